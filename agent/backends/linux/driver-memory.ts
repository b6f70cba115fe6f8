// The driver each PCI function had before it was handed to vfio-pci, kept on disk so that an
// attach after an agent restart (or a host reboot with vfio-pci bound early) still gives the
// device back to `nvidia` rather than to whichever driver the kernel probes first.

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

type Drivers = Record<string, string>;

export class DriverMemory {
  readonly #file: string;
  // Read-modify-write of one file: concurrent operations on different devices take turns.
  #turn: Promise<unknown> = Promise.resolve();

  constructor(stateDir: string) {
    this.#file = join(stateDir, 'drivers.json');
  }

  async original(address: string): Promise<string | null> {
    return (await this.#read())[address] ?? null;
  }

  remember(address: string, driver: string): Promise<void> {
    return this.#update((drivers) => (drivers[address] === driver ? null : { ...drivers, [address]: driver }));
  }

  forget(address: string): Promise<void> {
    return this.#update((drivers) => {
      if (!(address in drivers)) return null;
      const { [address]: _forgotten, ...rest } = drivers;
      return rest;
    });
  }

  /** `change` returns the new content, or null when there is nothing to write. */
  #update(change: (drivers: Drivers) => Drivers | null): Promise<void> {
    const update = this.#turn.then(async () => {
      const changed = change(await this.#read());
      if (changed) await this.#write(changed);
    });
    this.#turn = update.catch(() => {});
    return update;
  }

  async #read(): Promise<Drivers> {
    try {
      return JSON.parse(await readFile(this.#file, 'utf8')) as Drivers;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw error;
    }
  }

  // Write-then-rename, so a crash mid-write leaves the previous file rather than half a JSON.
  async #write(drivers: Drivers): Promise<void> {
    await mkdir(dirname(this.#file), { recursive: true });
    const temporary = `${this.#file}.${process.pid}.tmp`;
    await writeFile(temporary, `${JSON.stringify(drivers, null, 2)}\n`);
    await rename(temporary, this.#file);
  }
}
