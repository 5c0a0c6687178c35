// The run's artifacts: a lazily expanded tree, a preview of the selected file (text,
// JSON, YAML, CSV as a table, images, HTML in a sandboxed frame), downloads of a file
// or of a whole directory as a zip.
import { useState } from "react";
import { artifactUrl, artifactZipUrl, fetchArtifactText, listArtifacts } from "../api/client";
import type { FileInfo, Run } from "../api/types";
import { ErrorBox, Loading, useAsync } from "../common";
import { parseCsv } from "../csv";
import { runId } from "../format";
import { updateQuery } from "../router";

// Bigger files are offered for download only; previewing them would stall the page.
const PREVIEW_LIMIT_BYTES = 2 * 1024 * 1024;
const IMAGE = /\.(png|jpe?g|gif|webp|bmp|svg)$/i;
const JSON_FILE = /\.(json|jsonl)$/i;
const YAML_FILE = /(\.ya?ml|(^|\/)MLmodel)$/i;
const CSV_FILE = /\.(csv|tsv)$/i;
const HTML_FILE = /\.html?$/i;
const TEXT = /(\.(txt|log|md|markdown|py|sh|cfg|ini|toml|xml|js|ts|r|sql|out|err)|requirements\.txt)$/i;
// Rows of a CSV preview; the download has them all.
const CSV_PREVIEW_ROWS = 1000;

type PreviewKind = "image" | "json" | "yaml" | "csv" | "html" | "text" | "none";

export function previewKind(path: string): PreviewKind {
  if (IMAGE.test(path)) return "image";
  if (JSON_FILE.test(path)) return "json";
  if (YAML_FILE.test(path)) return "yaml";
  if (CSV_FILE.test(path)) return "csv";
  if (HTML_FILE.test(path)) return "html";
  if (TEXT.test(path) || !path.split("/").pop()!.includes(".")) return "text";
  return "none";
}

function formatSize(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

interface TreeProps {
  run: Run;
  path: string;
  depth: number;
  selected: string;
  onSelect: (file: FileInfo) => void;
}

function ArtifactDir({ run, path, depth, selected, onSelect }: TreeProps) {
  const listing = useAsync(() => listArtifacts(runId(run), path), [runId(run), path]);
  const [open, setOpen] = useState<Set<string>>(() => new Set(selected.split("/").map((_, i, parts) => parts.slice(0, i + 1).join("/"))));
  if (listing.error) return <ErrorBox error={listing.error} />;
  if (!listing.data) return <Loading what="artifacts" />;
  const files = [...(listing.data.files ?? [])].sort((a, b) => Number(b.is_dir ?? false) - Number(a.is_dir ?? false) || a.path.localeCompare(b.path));
  if (files.length === 0 && depth === 0) return <p className="muted">No artifacts.</p>;
  const toggle = (p: string) =>
    setOpen((old) => {
      const next = new Set(old);
      if (next.has(p)) next.delete(p);
      else next.add(p);
      return next;
    });
  return (
    <ul className="artifact-tree" role={depth === 0 ? "tree" : "group"}>
      {files.map((file) => {
        const name = file.path.split("/").pop();
        const isOpen = open.has(file.path);
        return (
          <li key={file.path} role="treeitem" aria-expanded={file.is_dir ? isOpen : undefined} aria-selected={selected === file.path}>
            <button
              className={`link artifact-entry${selected === file.path ? " selected" : ""}`}
              data-path={file.path}
              style={{ paddingLeft: depth * 14 }}
              onClick={() => (file.is_dir ? toggle(file.path) : onSelect(file))}
            >
              {file.is_dir ? (isOpen ? "▾ " : "▸ ") : ""}
              {name}
            </button>
            {!file.is_dir && <span className="size">{formatSize(file.file_size)}</span>}
            {file.is_dir && (
              <a className="size" href={artifactZipUrl(runId(run), file.path)} download aria-label={`Download ${file.path} as zip`}>
                zip
              </a>
            )}
            {file.is_dir && isOpen && <ArtifactDir run={run} path={file.path} depth={depth + 1} selected={selected} onSelect={onSelect} />}
          </li>
        );
      })}
    </ul>
  );
}

function Preview({ run, path, size }: { run: Run; path: string; size: number | undefined }) {
  const url = artifactUrl(run, path);
  const kind = previewKind(path);
  const tooBig = size !== undefined && size > PREVIEW_LIMIT_BYTES;
  const text = useAsync(async () => {
    if (tooBig || kind === "image" || kind === "none") return undefined;
    const body = await fetchArtifactText(url);
    if (kind !== "json") return body;
    try {
      return JSON.stringify(JSON.parse(body), null, 2);
    } catch {
      return body; // JSON lines, or broken JSON: show as it is
    }
  }, [url, kind, tooBig]);
  return (
    <div className="artifact-preview" aria-label="Artifact preview">
      <div className="preview-head">
        <span className="mono">{path}</span>
        <a className="button" href={url} download={path.split("/").pop()}>
          Download
        </a>
      </div>
      {tooBig ? (
        <p className="muted">This file is too large to preview; download it instead.</p>
      ) : kind === "image" ? (
        <img src={url} alt={path} className="preview-image" />
      ) : kind === "none" ? (
        <p className="muted">No preview for this kind of file.</p>
      ) : text.error ? (
        <ErrorBox error={text.error} />
      ) : text.data === undefined ? (
        <Loading what={path} />
      ) : kind === "csv" ? (
        <CsvTable text={text.data} separator={path.toLowerCase().endsWith(".tsv") ? "\t" : ","} />
      ) : kind === "html" ? (
        // no allow-* flags: the page cannot run scripts, submit forms or reach this app
        <iframe className="preview-html" sandbox="" srcDoc={text.data} title={`Preview of ${path}`} />
      ) : (
        <pre className="preview-text" data-kind={kind}>
          {text.data}
        </pre>
      )}
    </div>
  );
}

function CsvTable({ text, separator }: { text: string; separator: string }) {
  const rows = parseCsv(text, separator, CSV_PREVIEW_ROWS + 1);
  if (rows.length === 0) return <p className="muted">Empty file.</p>;
  const [header, ...body] = rows;
  const shown = body.slice(0, CSV_PREVIEW_ROWS - 1);
  return (
    <div className="preview-table-scroll">
      <table className="preview-table" aria-label="CSV preview">
        <thead>
          <tr>
            {header.map((h, i) => (
              <th key={i}>{h}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {shown.map((row, r) => (
            <tr key={r}>
              {row.map((v, i) => (
                <td key={i}>{v}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {body.length > shown.length && <p className="muted">First {shown.length} rows shown; download the file for all of them.</p>}
    </div>
  );
}

export function ArtifactBrowser({ run, selectedPath }: { run: Run; selectedPath: string }) {
  const [sizes, setSizes] = useState<Record<string, number | undefined>>({});
  const select = (file: FileInfo) => {
    setSizes((old) => ({ ...old, [file.path]: file.file_size ?? undefined }));
    updateQuery({ artifact: file.path });
  };
  return (
    <section className="artifacts" aria-labelledby="artifacts-heading">
      <div className="preview-head">
        <h2 id="artifacts-heading">Artifacts</h2>
        <a className="button" href={artifactZipUrl(runId(run), "")} download>
          Download all (zip)
        </a>
      </div>
      <div className="artifact-panes">
        <ArtifactDir run={run} path="" depth={0} selected={selectedPath} onSelect={select} />
        {selectedPath ? <Preview run={run} path={selectedPath} size={sizes[selectedPath]} /> : <p className="muted">Select a file to preview it.</p>}
      </div>
    </section>
  );
}
