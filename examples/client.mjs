// A web frontend's calls through supabase-js: the same code for `make run` and a hosted project.
//
// Only the environment differs: SUPABASE_URL and SUPABASE_ANON_KEY (from `make env`
// locally, from the project's API settings when hosted) and the signed-in user's
// ACCESS_TOKEN (from `make token` locally; when hosted, an app signed in through
// supabase.auth drops the accessToken option and the client uses its session). It reads
// the user's accounts through PostgREST under row-level security, then asks the
// `accounts` function for the same list with fetch, and prints both as one JSON object.
// tests/integration/test_examples.py runs it.
//
//     node examples/client.mjs
import { createClient } from "@supabase/supabase-js";
import WebSocket from "ws";

const { SUPABASE_URL, SUPABASE_ANON_KEY, ACCESS_TOKEN } = process.env;

const supabase = createClient(SUPABASE_URL, SUPABASE_ANON_KEY, {
  accessToken: async () => ACCESS_TOKEN,
  realtime: { transport: WebSocket }, // Node 20 has no global WebSocket; browsers need no option
});

// Amounts in the tables are integers of minor units; the functions speak decimal strings.
const { data: table, error } = await supabase
  .from("accounts")
  .select("id, currency, balance")
  .order("created_at");
if (error) throw new Error(`accounts: ${error.code} ${error.message}`);

const response = await fetch(`${SUPABASE_URL}/functions/v1/accounts`, {
  headers: { Authorization: `Bearer ${ACCESS_TOKEN}` },
});
const listed = await response.json();
if (!response.ok) throw new Error(`GET /accounts: ${response.status} ${JSON.stringify(listed)}`);

console.log(JSON.stringify({ table, function: listed }));
