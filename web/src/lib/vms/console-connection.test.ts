import { describe, expect, it } from 'vitest';
import { href, matchRoute } from '../router/router.svelte.ts';
import { consoleSocketUrl } from './console-connection.svelte.ts';

describe("a VM's console", () => {
  it('has its own tab route, linked from the VM page', () => {
    expect(href.vm('Vk06MQ==', 'console')).toBe('/vms/Vk06MQ%3D%3D/console');
    expect(matchRoute('/vms/Vk06MQ%3D%3D/console')).toEqual({ name: 'vm', id: 'Vk06MQ==', tab: 'console' });
    expect(matchRoute('/vms/Vk06MQ%3D%3D/screen')).toEqual({ name: 'not-found', path: '/vms/Vk06MQ%3D%3D/screen' });
  });

  it("opens its socket on the page's own host, wss under https", () => {
    expect(consoleSocketUrl('Vk06MQ==', { protocol: 'https:', host: 'passthru.example.com' })).toBe('wss://passthru.example.com/console/Vk06MQ%3D%3D');
    expect(consoleSocketUrl('Vk06MQ==', { protocol: 'http:', host: '127.0.0.1:4000' })).toBe('ws://127.0.0.1:4000/console/Vk06MQ%3D%3D');
    expect(consoleSocketUrl('Vk06MQ==', { protocol: 'http:', host: '127.0.0.1:4000' }, 'graphics')).toBe('ws://127.0.0.1:4000/console/Vk06MQ%3D%3D?kind=graphics');
  });
});
