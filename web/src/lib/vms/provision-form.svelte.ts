/** VM names the server accepts: 1 to 63 letters, digits, dots, dashes or underscores. */
export const VM_NAME = /^[A-Za-z0-9._-]{1,63}$/;

/** The Provision VM form: what the operator typed, and what the capacity check and mutation need. */
export class ProvisionForm {
  name = $state('');
  planId = $state('');
  placement = $state<'cluster' | 'host'>('cluster');
  clusterId = $state('');
  hostId = $state('');
  touched = $state(false);

  nameError = $derived(this.name === '' ? (this.touched ? 'Give the VM a name.' : null) : VM_NAME.test(this.name) ? null : 'Use 1 to 63 letters, digits, dots, dashes or underscores.');

  /** Where to place it, as the API wants it: a cluster or one host. */
  scope = $derived(this.placement === 'host' ? { hostId: this.hostId || null, clusterId: null } : { clusterId: this.clusterId || null, hostId: null });

  /** Variables for the live capacity check; null until there is enough to ask. */
  capacityVariables = $derived(
    this.planId && (this.scope.clusterId || this.scope.hostId) ? { planId: this.planId, clusterId: this.scope.clusterId, hostId: this.scope.hostId } : null,
  );

  ready = $derived(VM_NAME.test(this.name) && this.capacityVariables !== null);

  input() {
    return { name: this.name, planId: this.planId, ...(this.scope.hostId ? { hostId: this.scope.hostId } : { clusterId: this.scope.clusterId }) };
  }
}
