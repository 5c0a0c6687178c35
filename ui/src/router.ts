// Hash routing: "#/<path>?<query>". Every view and its state (experiments, filter, sort,
// columns, selection) lives in the URL, so a copied link reproduces the view.
import { useSyncExternalStore } from "react";

export interface Route {
  /** Path segments, decoded: "#/runs/abc" -> ["runs", "abc"]. */
  segments: string[];
  query: URLSearchParams;
}

const listeners = new Set<() => void>();

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  window.addEventListener("hashchange", listener);
  window.addEventListener("popstate", listener);
  return () => {
    listeners.delete(listener);
    window.removeEventListener("hashchange", listener);
    window.removeEventListener("popstate", listener);
  };
}

function currentHash(): string {
  return window.location.hash;
}

export function parseHash(hash: string): Route {
  const body = hash.replace(/^#/, "");
  const [path, search = ""] = body.split("?", 2);
  const segments = path
    .split("/")
    .filter(Boolean)
    .map((s) => decodeURIComponent(s));
  return { segments, query: new URLSearchParams(search) };
}

/** The current route; components re-render when it changes. */
export function useRoute(): Route {
  const hash = useSyncExternalStore(subscribe, currentHash);
  return parseHash(hash);
}

export function buildHash(segments: string[], query?: Record<string, string | undefined> | URLSearchParams): string {
  const path = "/" + segments.map(encodeURIComponent).join("/");
  const params = new URLSearchParams();
  if (query instanceof URLSearchParams) query.forEach((v, k) => params.append(k, v));
  else if (query) for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, v);
  const search = params.toString();
  return `#${path}${search ? `?${search}` : ""}`;
}

/**
 * Go to a hash; ``replace`` updates the URL without adding a history entry. Views are
 * told at once (not on the browser's later hashchange), so a control's new state is
 * rendered in the same event that changed it: a checkbox never flickers back.
 */
export function navigate(hash: string, replace = false): void {
  if (hash === window.location.hash) return;
  if (replace) window.history.replaceState(window.history.state, "", hash);
  else window.history.pushState(null, "", hash);
  listeners.forEach((l) => l());
}

/** Change some query parameters of the current route, keeping the others. */
export function updateQuery(changes: Record<string, string | undefined>, replace = true): void {
  const route = parseHash(window.location.hash);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) route.query.delete(k);
    else route.query.set(k, v);
  }
  navigate(buildHash(route.segments, route.query), replace);
}
