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

/** The props of {@link TokenProvider}. */
export interface TokenProviderProps {
  /** createTokenManager's options, read once at mount (remount with a new `key` to change them). */
  options: TokenManagerOptions;
  /** MyDataHelps.js, fed with attachSdk once the manager exists; read once at mount. */
  sdk?: MyDataHelpsLike;
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

/** status() as of the manager's last event (re-renders on each); null without a manager. */
export function useTokenStatus(): TokenStatus | null;
