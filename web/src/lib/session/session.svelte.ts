import { api, resetApi, whenCredentialLost } from '../api/client.ts';
import { errorMessage } from '../api/action.svelte.ts';
import { graphql, type ResultOf } from '../../../../protocol/graphql.ts';
import { live } from '../api/live.ts';

const Me = graphql(`
  query Me {
    me { id username role }
  }
`);
const SignIn = graphql(`
  mutation SignIn($input: SignInInput!) {
    signIn(input: $input) {
      __typename
      ... on SignInSuccess { user { id username role } }
      ... on Error { message }
    }
  }
`);
const SignOut = graphql(`
  mutation SignOut {
    signOut { __typename ... on Error { message } }
  }
`);

export type User = NonNullable<ResultOf<typeof Me>['me']>;
export type Role = User['role'];

const ROLE_LABEL: Record<Role, string> = { VIEWER: 'Viewer', OPERATOR: 'Operator', ADMIN: 'Admin' };

/**
 * Who is signed in to this tab. The session itself is an HttpOnly cookie the server sets on
 * signIn; the console only learns who it belongs to (`me`) and what the role allows, so it can
 * offer only what the server would accept (the server still decides every call).
 */
export class Session {
  status = $state<'checking' | 'signed-out' | 'signed-in'>('checking');
  user = $state.raw<User | null>(null);
  /** Why the last session ended, shown on the sign-in page. */
  notice = $state<string | null>(null);
  /** Set when the server could not be asked at all. */
  unreachable = $state(false);

  get role(): Role | null {
    return this.user?.role ?? null;
  }
  get roleLabel(): string {
    return this.user ? ROLE_LABEL[this.user.role] : '';
  }
  /** Detach, attach, assign, release; provision, power and delete VMs. */
  get canOperate(): boolean {
    return this.role === 'OPERATOR' || this.role === 'ADMIN';
  }
  /** Manage service plans. */
  get canAdminister(): boolean {
    return this.role === 'ADMIN';
  }

  constructor() {
    whenCredentialLost((reason) => this.#end(`Your session ended (${reason.replace(/\.$/, '')}). Sign in again.`));
  }

  /** Asks the server who the cookie belongs to, if anyone. */
  async check() {
    const result = await api().client.query(Me, {}, { requestPolicy: 'network-only' }).toPromise();
    if (result.error?.networkError) {
      this.unreachable = true;
      this.status = this.user ? 'signed-in' : 'signed-out';
      return;
    }
    this.unreachable = false;
    if (result.data?.me) this.#begin(result.data.me);
    else this.#end(null);
  }

  /** Resolves with the reason sign-in was refused, or null once signed in. */
  async signIn(username: string, password: string): Promise<string | null> {
    const result = await api().client.mutation(SignIn, { input: { username, password } }).toPromise();
    if (result.error) return result.error.networkError ? 'The server cannot be reached.' : result.error.graphQLErrors.map((e) => e.message).join('; ');
    const payload = result.data?.signIn;
    const message = errorMessage(payload);
    if (message !== null || payload?.__typename !== 'SignInSuccess') return message ?? 'Sign-in failed.';
    // A new session starts with a clean cache and a socket that carries the new cookie.
    resetApi();
    this.#begin(payload.user);
    return null;
  }

  async signOut() {
    await api().client.mutation(SignOut, {}).toPromise();
    this.#end('You signed out.');
  }

  #begin(user: User) {
    this.user = user;
    this.notice = null;
    this.status = 'signed-in';
  }

  #end(notice: string | null) {
    live.stop();
    resetApi();
    this.user = null;
    this.notice = notice;
    this.status = 'signed-out';
  }
}

export const session = new Session();
