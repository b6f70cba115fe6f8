// Each domain file registers its types and root fields on the builder; importing them is enough.
import './errors.ts';
import './hosts.ts';
import './devices.ts';
import './operations.ts';
import './vms.ts';
import './plans.ts';
import './pool.ts';
import { builder } from './builder.ts';

export const schema = builder.toSchema({ sortSchema: false });
