import { vmNameProblem } from '../../../../protocol/rules.ts';

/** The Provision VM form: what the operator typed, and what the capacity check and mutation need. */
export class ProvisionForm {
  name = $state('');
  planId = $state('');
  placement = $state<'cluster' | 'host'>('cluster');
  clusterId = $state('');
  hostId = $state('');
  touched = $state(false);

  nameError = $derived(this.name === '' ? (this.touched ? 'Give the VM a name.' : null) : vmNameProblem(this.name));

  /** Where to place it, as the API wants it: a cluster or one host. */
  scope = $derived(this.placement === 'host' ? { hostId: this.hostId || null, clusterId: null } : { clusterId: this.clusterId || null, hostId: null });

  /** Variables for the live capacity check; null until there is enough to ask. */
  capacityVariables = $derived(
    this.planId && (this.scope.clusterId || this.scope.hostId) ? { planId: this.planId, clusterId: this.scope.clusterId, hostId: this.scope.hostId } : null,
  );

  ready = $derived(vmNameProblem(this.name) === null && this.capacityVariables !== null);

  input() {
    return { name: this.name, planId: this.planId, ...(this.scope.hostId ? { hostId: this.scope.hostId } : { clusterId: this.scope.clusterId }) };
  }
}
