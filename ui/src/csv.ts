// A small CSV reader for artifact previews (RFC 4180: quoted fields, doubled quotes,
// separators and line breaks inside quotes). TSV files split on tabs.

/** The rows of ``text``, at most ``limit`` of them. */
export function parseCsv(text: string, separator = ",", limit = Infinity): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  let i = 0;
  const endRow = () => {
    row.push(field);
    rows.push(row);
    row = [];
    field = "";
  };
  while (i < text.length && rows.length < limit) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else field += c;
      i += 1;
      continue;
    }
    if (c === '"' && field === "") quoted = true;
    else if (c === separator) {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i += 1;
      endRow();
    } else field += c;
    i += 1;
  }
  if ((field !== "" || row.length > 0) && rows.length < limit) endRow();
  return rows;
}
