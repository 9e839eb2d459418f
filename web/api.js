// Calls to the functions through supabase-js (`client.functions.invoke`), with their error
// envelope turned into one error type, and money amounts moved between the ledger's minor
// units (what PostgREST returns) and the decimal strings the functions take.

/** An answer in the error envelope: {"error": {code, message, details, request_id}}. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `the server answered ${status}`);
    this.status = status;
    this.code = body?.code ?? "unknown";
    this.details = body?.details ?? null;
    this.requestId = body?.request_id ?? null;
  }

  /** validation_failed's details: [{field, message}]; nothing for other codes. */
  get fieldErrors() {
    return this.code === "validation_failed" && Array.isArray(this.details) ? this.details : [];
  }
}

/** The request may or may not have reached the server: no answer came back. */
export class NetworkError extends Error {}

/** PostgREST's error object (supabase-js returns it instead of throwing). */
export class DataError extends Error {
  constructor(error) {
    super(error.message);
    this.code = error.code;
  }
}

export async function callFunction(client, path, { method = "GET", body, headers } = {}) {
  const { data, error } = await client.functions.invoke(path, { method, body, headers });
  if (!error) return data;
  const response = error.context;
  if (error.name === "FunctionsHttpError" && response) {
    let envelope = null;
    try {
      envelope = await response.json();
    } catch {
      // Not JSON: a proxy's page, say. The status is all there is.
    }
    throw new ApiError(response.status, envelope?.error);
  }
  throw new NetworkError(`the request got no answer (${error.message}); you can retry safely`);
}

/** Rows from PostgREST through supabase-js, read under the caller's RLS. */
export async function rows(query) {
  const { data, error } = await query;
  if (error) throw new DataError(error);
  return data;
}

/** 1234n and exponent 2 -> "12.34"; BigInt so no amount loses precision. */
export function formatMinor(minor, exponent) {
  const value = BigInt(minor);
  const sign = value < 0n ? "-" : "";
  const digits = (value < 0n ? -value : value).toString().padStart(exponent + 1, "0");
  if (exponent === 0) return sign + digits;
  return `${sign}${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}
