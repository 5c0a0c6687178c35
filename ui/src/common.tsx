// Small shared pieces: the async-loading hook and the loading / error displays.
import { useCallback, useEffect, useRef, useState, type DependencyList } from "react";
import { ApiError } from "./api/client";

export interface AsyncState<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
}

/** Runs ``load`` whenever ``deps`` change; answers from superseded calls are dropped. */
export function useAsync<T>(load: () => Promise<T>, deps: DependencyList): AsyncState<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const [version, setVersion] = useState(0);
  const generation = useRef(0);
  useEffect(() => {
    const mine = ++generation.current;
    setState((s) => ({ data: s.data, loading: true }));
    load().then(
      (data) => mine === generation.current && setState({ data, loading: false }),
      (error: Error) => mine === generation.current && setState({ error, loading: false }),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, version]);
  const reload = useCallback(() => setVersion((v) => v + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

export function Loading({ what }: { what?: string }) {
  return (
    <div className="loading" role="status">
      Loading{what ? ` ${what}` : ""}…
    </div>
  );
}

export function ErrorBox({ error }: { error: Error }) {
  const code = error instanceof ApiError ? error.code : error.name;
  return (
    <div className="error" role="alert">
      <strong>{code}</strong>: {error.message}
    </div>
  );
}
