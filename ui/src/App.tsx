// The shell: header, and the view the URL names.
//   #/                                  pick an experiment
//   #/experiments/<id>[,<id>...]?filter=&sort=&dir=&cols=&sel=   runs table
//   #/runs/<run id>?artifact=<path>     run page (also #/experiments/<id>/runs/<run id>)
//   #/compare?runs=<id>,<id>,...        compare view (also MLflow's #/compare-runs?runs=[...])
import { CompareView } from "./components/CompareView";
import { ExperimentSidebar } from "./components/ExperimentSidebar";
import { RunPage } from "./components/RunPage";
import { RunsView } from "./components/RunsView";
import { buildHash, navigate, useRoute } from "./router";

/** Run ids from "a,b,c" or MLflow's JSON list form '["a","b"]'. */
export function parseRunIds(text: string | null): string[] {
  if (!text) return [];
  if (text.startsWith("[")) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (Array.isArray(parsed)) return parsed.map(String);
    } catch {
      return [];
    }
  }
  return text.split(",").filter(Boolean);
}

function Main() {
  const { segments, query } = useRoute();
  const [head, second, third, fourth] = segments;
  if (head === "runs" && second) return <RunPage runId={second} artifactPath={query.get("artifact") ?? ""} />;
  if (head === "experiments" && third === "runs" && fourth)
    return <RunPage runId={fourth} artifactPath={query.get("artifact") ?? ""} />;
  if (head === "compare" || head === "compare-runs") return <CompareView runIds={parseRunIds(query.get("runs"))} />;
  if (head === undefined || head === "experiments") {
    const ids = (second ?? "").split(",").filter(Boolean);
    return (
      <div className="with-sidebar">
        <ExperimentSidebar selected={ids} onSelect={(next) => navigate(buildHash(next.length ? ["experiments", next.join(",")] : []))} />
        {ids.length ? (
          <RunsView key={ids.join(",")} experimentIds={ids} query={query} />
        ) : (
          <p className="muted pick">Choose an experiment to see its runs.</p>
        )}
      </div>
    );
  }
  return (
    <div className="error" role="alert">
      No page at this address. <a href="#/">Go to the experiments</a>.
    </div>
  );
}

export function App() {
  return (
    <div className="app">
      <header className="topbar">
        <a href="#/" className="brand">
          Cairn
        </a>
        <span className="muted">experiment tracking</span>
      </header>
      <main>
        <Main />
      </main>
    </div>
  );
}
