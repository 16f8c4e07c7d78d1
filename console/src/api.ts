// Every call the console makes to the server: the same documented HTTP APIs a script uses
// (docs/server.md), with the signed-in token sent as `Authorization: Bearer`.

const TOKEN_KEY = 'sluice.token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value: string | null): void {
  if (value === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, value);
}

/// fetch() with the token; a non-2xx answer becomes an ApiError carrying the server's message.
export async function call(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const t = token();
  if (t) headers.set('Authorization', `Bearer ${t}`);
  const response = await fetch(path, { ...init, headers });
  if (!response.ok) throw new ApiError(response.status, await errorText(response));
  return response;
}

async function errorText(response: Response): Promise<string> {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    const message = body.error ?? body.message;
    if (typeof message === 'string') return `${response.status}: ${message}`;
  } catch {
    // not JSON: the text itself
  }
  return `${response.status}: ${text || response.statusText}`;
}

export async function json<T>(path: string, init: RequestInit = {}): Promise<T> {
  return (await call(path, init)).json() as Promise<T>;
}

/// Who the token is: `GET /api/v3/console/whoami`.
export interface Identity {
  auth: boolean;
  admin: boolean;
  name: string;
  read: string[];
  write: string[];
}

export function whoami(): Promise<Identity> {
  return json<Identity>('/api/v3/console/whoami');
}

export function query(path: string, params: Record<string, string>, accept?: string): Promise<Response> {
  const body = new URLSearchParams(params);
  const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded' };
  if (accept) headers.Accept = accept;
  return call(path, { method: 'POST', body, headers });
}

/// InfluxDB 1.x `/query` answer.
export interface V1Series {
  name?: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}
export interface V1Result {
  statement_id: number;
  series?: V1Series[];
  error?: string;
}

/// Runs InfluxQL through `/query`; statement errors become an ApiError.
export async function influxql(db: string, q: string): Promise<V1Result[]> {
  const response = await query('/query', { db, q });
  const body = (await response.json()) as { results: V1Result[] };
  const failed = body.results.find((r) => r.error);
  if (failed) throw new ApiError(200, failed.error!);
  return body.results;
}

/// Runs SQL through `/api/v3/query_sql` (JSON rows).
export async function sql(db: string, q: string): Promise<Record<string, unknown>[]> {
  const response = await query('/api/v3/query_sql', { db, q, format: 'json' });
  return (await response.json()) as Record<string, unknown>[];
}
