// Types of mdh-token/react. No `any`: checked with `tsc --noEmit --strict`.
/**
 * The React binding: {@link TokenProvider} creates the manager after mount, the hooks read it.
 * @packageDocumentation
 * @module mdh-token/react
 */
import type { ReactElement, ReactNode } from "react";
import type {
  AttachSdkOptions,
  MyDataHelpsLike,
  TokenError,
  TokenManager,
  TokenManagerOptions,
  TokenStatus,
} from "../index.js";

/** Loads MyDataHelps.js: the module (its default export is used) or the SDK itself. */
export type SdkLoader = () => Promise<MyDataHelpsLike | {
  /** MyDataHelps.js, as the module's default export. */
  default: MyDataHelpsLike;
}>;

/** The props of {@link TokenProvider}. */
export interface TokenProviderProps {
  /** createTokenManager's options, read once at mount (remount with a new `key` to change them). */
  options: TokenManagerOptions;
  /**
   * MyDataHelps.js, fed with attachSdk once the manager exists; read once at mount. Or a
   * loader called after mount, on the client only (MyDataHelps.js cannot be imported on a
   * server): `sdk={() => import("@careevolution/mydatahelps-js")}`. A loader that fails is
   * reported to `onError` as `sdk_unavailable`; the manager still gets its first token.
   */
  sdk?: MyDataHelpsLike | SdkLoader;
  /** attachSdk's options (`baseUrl`, `revive`). */
  sdkOptions?: AttachSdkOptions;
  /** Called when the manager cannot be created or attached; default console.error. */
  onError?: (error: TokenError) => void;
  /** Rendered at once, also before the manager exists and in a server render. */
  children?: ReactNode;
}

/**
 * Creates one manager after mount (never during a server render), gets the first token
 * (through attachSdk when `sdk` is given), and destroys the manager on unmount.
 */
export function TokenProvider(props: TokenProviderProps): ReactElement;

/** The provider's manager: null during a server render and until it is created. */
export function useTokenManager(): TokenManager | null;

/**
 * status() as of the manager's last event (re-renders on each); null without a manager
 * (server render, first render, while the wasm loads). The states and their order:
 * TokenState.
 */
export function useTokenStatus(): TokenStatus | null;
