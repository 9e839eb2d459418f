// supabase-js plays a web frontend against the stack's gateway, as against a hosted project.
//
// tests/integration/test_supabase_js.py runs this file with `node --test` on the test
// stack and passes, in the environment, the gateway's URL, the anon key, two users'
// tokens (minted by scripts/localstack/ as Supabase Auth would sign them) and their
// accounts; Alice's holds 100.00 USD. The client takes the token through its
// `accessToken` option, the way an app that gets its tokens elsewhere gives them.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";

import { createClient } from "@supabase/supabase-js";
import WebSocket from "ws";

const env = process.env;
const SUPABASE_URL = env.SUPABASE_URL;

function clientFor(token) {
  return createClient(SUPABASE_URL, env.SUPABASE_ANON_KEY, {
    accessToken: async () => token,
    // Node 20 has no global WebSocket; realtime-js needs one to construct.
    realtime: { transport: WebSocket },
  });
}

const alice = clientFor(env.ALICE_TOKEN);
const bob = clientFor(env.BOB_TOKEN);

async function balanceOf(client, accountId) {
  const { data, error } = await client.from("accounts").select("balance").eq("id", accountId).single();
  assert.equal(error, null);
  return data.balance;
}

function transfer(client, amount, key = randomUUID()) {
  return client.rpc("transfer_funds", {
    p_from_account_id: env.ALICE_ACCOUNT,
    p_to_account_id: env.BOB_ACCOUNT,
    p_amount: amount,
    p_currency: "USD",
    p_idempotency_key: key,
  });
}

test("a user reads their own accounts and nobody else's", async () => {
  const { data, error } = await alice.from("accounts").select("id, currency, owner_id");
  assert.equal(error, null);
  assert.deepEqual(data, [{ id: env.ALICE_ACCOUNT, currency: "USD", owner_id: env.ALICE_ID }]);
  const other = await alice.from("accounts").select("id").eq("id", env.BOB_ACCOUNT);
  assert.equal(other.error, null);
  assert.deepEqual(other.data, []);
});

test("transfer_funds moves money once per idempotency key", async () => {
  const before = await balanceOf(alice, env.ALICE_ACCOUNT);
  const key = randomUUID();
  const first = await transfer(alice, "12.34", key);
  assert.equal(first.error, null);
  assert.equal(first.data.amount, 1234);
  assert.equal(first.data.replayed, false);
  const again = await transfer(alice, "12.34", key);
  assert.deepEqual(again.data, { ...first.data, replayed: true });
  assert.equal(await balanceOf(alice, env.ALICE_ACCOUNT), before - 1234);
});

test("transfer_funds refusals come back as errors with the ledger's code", async () => {
  const tooMuch = await transfer(alice, "1000000.00");
  assert.equal(tooMuch.data, null);
  assert.equal(tooMuch.error.code, "BK001");
  assert.match(tooMuch.error.message, /insufficient funds: [0-9]+\.[0-9]{2} USD available, 1000000\.00 USD requested/);
  assert.equal(tooMuch.status, 422);

  const notYours = await bob.rpc("transfer_funds", {
    p_from_account_id: env.ALICE_ACCOUNT,
    p_to_account_id: env.BOB_ACCOUNT,
    p_amount: "1.00",
    p_currency: "USD",
    p_idempotency_key: randomUUID(),
  });
  assert.equal(notYours.error.code, "BK005");
});

test("a user cannot set a balance through the table API", async () => {
  const { error } = await alice.from("accounts").update({ balance: 100000000 }).eq("id", env.ALICE_ACCOUNT);
  assert.equal(error.code, "42501");
});

test("a function is called with fetch and the user's token through /functions/v1", async () => {
  const headers = { Authorization: `Bearer ${env.ALICE_TOKEN}`, "Content-Type": "application/json" };
  const listed = await fetch(`${SUPABASE_URL}/functions/v1/accounts`, { headers });
  assert.equal(listed.status, 200);
  const { data } = await listed.json();
  assert.deepEqual(data.map((account) => account.id), [env.ALICE_ACCOUNT]);
  assert.match(data[0].balance, /^\d+\.\d{2}$/); // decimal strings at the API, never floats

  const body = JSON.stringify({
    from_account_id: env.ALICE_ACCOUNT,
    to_account_id: env.BOB_ACCOUNT,
    amount: "1.00",
    currency: "USD",
  });
  const posted = await fetch(`${SUPABASE_URL}/functions/v1/transfers`, {
    method: "POST",
    headers: { ...headers, "Idempotency-Key": randomUUID() },
    body,
  });
  assert.equal(posted.status, 201, await posted.clone().text());
  const created = await posted.json();
  assert.equal(created.amount, "1.00");

  const read = await fetch(`${SUPABASE_URL}/functions/v1/transfers/${created.id}`, { headers });
  assert.equal(read.status, 200);
  assert.equal((await read.json()).id, created.id);
});

test("supabase-js's own functions client reaches the same function", async () => {
  const { data, error } = await alice.functions.invoke("accounts", { method: "GET" });
  assert.equal(error, null);
  assert.deepEqual(data.data.map((account) => account.id), [env.ALICE_ACCOUNT]);
});

test("without a token a function answers 401 in the error envelope", async () => {
  const response = await fetch(`${SUPABASE_URL}/functions/v1/accounts`);
  assert.equal(response.status, 401);
  const { error } = await response.json();
  assert.equal(error.code, "unauthorized");
  assert.ok(error.request_id);
});
