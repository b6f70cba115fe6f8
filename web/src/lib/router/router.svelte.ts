/** A VM page's tabs; the console tab opens a serial console session. */
export type VmTab = 'summary' | 'devices' | 'console';
const VM_TABS: readonly VmTab[] = ['summary', 'devices', 'console'];
const isVmTab = (value: string | undefined): value is VmTab => VM_TABS.some((tab) => tab === value);

/** The routes of the console. Path segments that are IDs are URI-encoded global IDs. */
export type Route =
  | { name: 'dashboard' }
  | { name: 'hosts' }
  | { name: 'host'; id: string; tab: 'summary' | 'devices' }
  | { name: 'vms' }
  | { name: 'vm-new'; hostId: string | null }
  | { name: 'vm'; id: string; tab: VmTab }
  | { name: 'plans' }
  | { name: 'activity'; tab: 'operations' | 'audit' }
  | { name: 'tokens' }
  | { name: 'users' }
  | { name: 'not-found'; path: string };

export function matchRoute(pathname: string, search = ''): Route {
  const parts = pathname.replace(/\/+$/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [first, second, third] = parts;
  const params = new URLSearchParams(search);
  if (parts.length === 0) return { name: 'dashboard' };
  if (first === 'hosts' && parts.length === 1) return { name: 'hosts' };
  if (first === 'hosts' && second && parts.length <= 3) {
    if (third === undefined || third === 'summary' || third === 'devices') return { name: 'host', id: second, tab: third === 'devices' ? 'devices' : 'summary' };
  }
  if (first === 'vms' && parts.length === 1) return { name: 'vms' };
  if (first === 'vms' && second === 'new' && parts.length === 2) return { name: 'vm-new', hostId: params.get('host') };
  if (first === 'vms' && second && parts.length <= 3) {
    if (third === undefined || isVmTab(third)) return { name: 'vm', id: second, tab: third ?? 'summary' };
  }
  if (first === 'admin' && second === 'plans' && parts.length === 2) return { name: 'plans' };
  if (first === 'admin' && second === 'tokens' && parts.length === 2) return { name: 'tokens' };
  if (first === 'admin' && second === 'users' && parts.length === 2) return { name: 'users' };
  if (first === 'activity' && parts.length <= 2 && (second === undefined || second === 'audit')) return { name: 'activity', tab: second === 'audit' ? 'audit' : 'operations' };
  return { name: 'not-found', path: pathname };
}

/** Links, built in one place so a route's shape changes in one place. */
export const href = {
  dashboard: () => '/',
  hosts: () => '/hosts',
  host: (id: string, tab: 'summary' | 'devices' = 'summary') => `/hosts/${encodeURIComponent(id)}${tab === 'devices' ? '/devices' : ''}`,
  vms: () => '/vms',
  vmNew: (hostId?: string) => (hostId ? `/vms/new?host=${encodeURIComponent(hostId)}` : '/vms/new'),
  vm: (id: string, tab: VmTab = 'summary') => `/vms/${encodeURIComponent(id)}${tab === 'summary' ? '' : `/${tab}`}`,
  plans: () => '/admin/plans',
  activity: (tab: 'operations' | 'audit' = 'operations') => (tab === 'audit' ? '/activity/audit' : '/activity'),
  tokens: () => '/admin/tokens',
  users: () => '/admin/users',
};

/**
 * A history-API router: the server falls back to index.html for unknown paths, so every
 * console URL can be reloaded or shared. Plain <a href="/..."> links are intercepted by one
 * document listener, so components need no special link component.
 */
export class Router {
  path = $state('/');
  search = $state('');
  route = $derived(matchRoute(this.path, this.search));
  #started = false;

  start() {
    if (this.#started) return;
    this.#started = true;
    this.#sync();
    window.addEventListener('popstate', () => this.#sync());
    document.addEventListener('click', (event) => {
      if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      const anchor = (event.target as Element | null)?.closest?.('a');
      if (!anchor || anchor.target || anchor.hasAttribute('download')) return;
      const url = new URL(anchor.href, window.location.href);
      if (url.origin !== window.location.origin || url.pathname.startsWith('/graphql')) return;
      event.preventDefault();
      this.navigate(url.pathname + url.search);
    });
  }

  navigate(to: string, options: { replace?: boolean } = {}) {
    const url = new URL(to, window.location.href);
    if (url.pathname === this.path && url.search === this.search) return;
    if (options.replace) history.replaceState(null, '', url);
    else history.pushState(null, '', url);
    this.#sync();
    if (!options.replace) window.scrollTo({ top: 0 });
  }

  #sync() {
    this.path = window.location.pathname;
    this.search = window.location.search;
  }
}

export const router = new Router();
