// The example frontend: sign-in, then the customer's or the staff's page. Reads go through
// supabase-js to PostgREST under RLS; everything that moves money goes through the functions.
import { callFunction, formatMinor, rows } from "./api.js";
import { describe, idempotentForm, plainForm, showError, showOk } from "./forms.js";

const $ = (selector) => document.querySelector(selector);
const TRANSACTIONS_PAGE_SIZE = 10;

const state = { client: null, exponents: new Map(), accounts: [], cursor: null };

// Config -------------------------------------------------------------------------------
// config.json decides the sign-in. The committed one is the local stack's: the Supabase
// CLI's public demo anon key, no secret. A hosted deployment serves its own config.json
// with "auth": "hosted", its project URL and its anon key (public by design too).
async function loadConfig() {
  const response = await fetch("config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: the server answered ${response.status}`);
  const config = await response.json();
  return { ...config, supabaseUrl: config.supabaseUrl || window.location.origin };
}

function claimsOf(token) {
  const part = token.split(".")[1] ?? "";
  try {
    return JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    return null;
  }
}

// Sign-in ------------------------------------------------------------------------------
// Both modes end in one supabase-js client used the same way: hosted signs in with Supabase
// Auth; local takes a token the stack minted through the client's `accessToken` option.
async function setUpSignIn(config) {
  const { createClient } = window.supabase;
  if (config.auth === "hosted") {
    const client = createClient(config.supabaseUrl, config.anonKey);
    const form = $("#hosted-sign-in");
    form.hidden = false;
    plainForm(form, async ({ email, password }) => {
      const { data, error } = await client.auth.signInWithPassword({ email, password });
      if (error) throw error;
      await start(client, data.session.access_token);
    });
    $("#sign-out").addEventListener("click", async () => {
      await client.auth.signOut();
      window.location.reload();
    });
    const { data } = await client.auth.getSession();
    if (data.session) return start(client, data.session.access_token);
  } else {
    const form = $("#local-sign-in");
    form.hidden = false;
    const signIn = async (token) => {
      const client = createClient(config.supabaseUrl, config.anonKey, {
        accessToken: async () => token,
      });
      await start(client, token);
      // The tab keeps the token until it closes, so a reload stays signed in.
      sessionStorage.setItem("ledgerbase.token", token);
    };
    plainForm(form, async ({ token }) => {
      const claims = token ? claimsOf(token) : null;
      if (!claims) throw new Error("That is not a token: paste the output of make token");
      if (claims.exp && claims.exp * 1000 < Date.now()) throw new Error("That token has expired");
      await signIn(token);
    });
    $("#sign-out").addEventListener("click", () => {
      sessionStorage.removeItem("ledgerbase.token");
      window.location.reload();
    });
    const saved = sessionStorage.getItem("ledgerbase.token");
    if (saved) {
      try {
        return await signIn(saved);
      } catch {
        sessionStorage.removeItem("ledgerbase.token");
      }
    }
  }
  $("#sign-in-page").hidden = false;
}

async function start(client, token) {
  state.client = client;
  const claims = claimsOf(token) ?? {};
  // The first read checks the token: PostgREST refuses a bad one.
  const { data: currencies, error } = await client.from("currencies").select("code, exponent");
  if (error) throw new Error(`The server refused that token: ${error.message}`);
  state.exponents = new Map(currencies.map((c) => [c.code, c.exponent]));
  const staff = claims.app_metadata?.role === "admin";
  $("#sign-in-page").hidden = true;
  $("#sign-out").hidden = false;
  $("#who").textContent = `Signed in as ${claims.email ?? claims.sub}${staff ? " (staff)" : ""}`;
  if (staff) {
    $("#staff-page").hidden = false;
    await loadPendingLoans();
  } else {
    $("#customer-page").hidden = false;
    await refreshCustomer();
  }
}

const money = (minor, currency) =>
  `${formatMinor(minor, state.exponents.get(currency) ?? 2)} ${currency}`;

// Customers ----------------------------------------------------------------------------
async function refreshCustomer() {
  state.accounts = await rows(
    state.client
      .from("accounts")
      .select("id, account_number, kind, currency, nickname, status, balance")
      .order("created_at"),
  );
  renderAccounts();
  await Promise.all([loadTransactions(true), loadLoans()]);
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function accountLabel(account) {
  return `${account.account_number}${account.nickname ? ` (${account.nickname})` : ""}`;
}

function renderAccounts() {
  const body = $("#accounts tbody");
  body.replaceChildren(
    ...state.accounts.map((account) => {
      const tr = document.createElement("tr");
      tr.dataset.accountId = account.id;
      tr.append(
        cell(accountLabel(account)),
        cell(account.kind),
        cell(account.status),
        cell(money(account.balance, account.currency), "num balance"),
      );
      return tr;
    }),
  );
  for (const select of document.querySelectorAll("select[data-accounts]")) {
    const previous = select.value;
    const options = state.accounts.map((account) => {
      const label = `${accountLabel(account)}, ${money(account.balance, account.currency)}`;
      return new Option(label, account.id);
    });
    if (select.dataset.other !== undefined) options.push(new Option("Another account…", "other"));
    select.replaceChildren(...options);
    if ([...select.options].some((option) => option.value === previous)) select.value = previous;
  }
  // A transfer's default destination is another of the customer's own accounts.
  const to = $("#transfer-to");
  if (to.value === $("#transfer-from").value && to.options.length > 1) to.selectedIndex = 1;
  showOtherAccount();
}

function showOtherAccount() {
  const other = $("#transfer-to").value === "other";
  $("#transfer-to-other").hidden = !other;
  $("label[for=transfer-to-other]").hidden = !other;
}

async function loadTransactions(fromStart) {
  const accountId = $("#transactions-account").value;
  const body = $("#transactions tbody");
  const error = $("#transactions-error");
  error.hidden = true;
  if (fromStart) {
    body.replaceChildren();
    state.cursor = null;
  }
  if (!accountId) return;
  const query = new URLSearchParams({ limit: String(TRANSACTIONS_PAGE_SIZE) });
  if (state.cursor) query.set("cursor", state.cursor);
  try {
    const page = await callFunction(state.client, `accounts/${accountId}/transactions?${query}`);
    const currency = state.accounts.find((a) => a.id === accountId)?.currency ?? "";
    for (const entry of page.data) {
      const tr = document.createElement("tr");
      tr.append(
        cell(new Date(entry.created_at).toLocaleString()),
        cell(entry.description ?? ""),
        cell(`${entry.amount} ${currency}`, "num"),
        cell(`${entry.balance_after} ${currency}`, "num"),
      );
      body.append(tr);
    }
    state.cursor = page.next_cursor;
    $("#transactions-more").hidden = !page.next_cursor;
  } catch (failure) {
    error.textContent = describe(failure);
    error.hidden = false;
  }
}

function setUpCustomer() {
  $("#transfer-to").addEventListener("change", showOtherAccount);
  idempotentForm(
    $("#transfer"),
    async (values, key) => {
      const from = state.accounts.find((a) => a.id === values.from_account_id);
      const toOther = values.to_account_id === "other";
      const transfer = await callFunction(state.client, "transfers", {
        method: "POST",
        headers: { "Idempotency-Key": key },
        body: {
          from_account_id: values.from_account_id ?? "",
          to_account_id: (toOther ? values.to_account_other : values.to_account_id) ?? "",
          amount: values.amount ?? "",
          currency: from?.currency ?? "",
          ...(values.description ? { description: values.description } : {}),
        },
      });
      $("#transfer-amount").value = "";
      $("#transfer-description").value = "";
      await refreshCustomer();
      showOk($("#transfer"), `Sent ${transfer.amount} ${transfer.currency}`);
    },
    {
      fieldFor: (field) =>
        field === "to_account_id" && $("#transfer-to").value === "other" ? "to_account_other" : field,
    },
  );

  idempotentForm($("#open-account"), async (values) => {
    await callFunction(state.client, "accounts", {
      method: "POST",
      body: { kind: values.kind, currency: (values.currency ?? "").toUpperCase() },
    });
    await refreshCustomer();
  });

  plainForm($("#transactions-form"), () => loadTransactions(true));
  $("#transactions-account").addEventListener("change", () => loadTransactions(true));
  $("#transactions-more").addEventListener("click", () => loadTransactions(false));

  const month = $("#statement-month");
  month.value = new Date().toISOString().slice(0, 7);
  plainForm($("#statement"), async ({ account_id: accountId, month: chosen }) => {
    const query = new URLSearchParams({ month: chosen ?? "" });
    const csv = await callFunction(state.client, `accounts/${accountId}/statement?${query}`);
    const number = state.accounts.find((a) => a.id === accountId)?.account_number ?? accountId;
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
    link.download = `statement-${number}-${chosen}.csv`;
    link.click();
    URL.revokeObjectURL(link.href);
  });

  idempotentForm($("#loan-apply"), async (values) => {
    const account = state.accounts.find((a) => a.id === values.account_id);
    const loan = await callFunction(state.client, "loans", {
      method: "POST",
      body: {
        account_id: values.account_id ?? "",
        principal: values.principal ?? "",
        currency: account?.currency ?? "",
        term_months: Number(values.term_months),
        ...(values.purpose ? { purpose: values.purpose } : {}),
      },
    });
    await loadLoans();
    showOk($("#loan-apply"), `Applied for ${loan.principal} ${loan.currency}: ${loan.status}`);
  });
}

async function loadLoans() {
  const container = $("#loans");
  try {
    const { data } = await callFunction(state.client, "loans");
    container.replaceChildren(...data.map(renderLoan));
  } catch (failure) {
    const note = document.createElement("p");
    note.className = "error";
    note.setAttribute("role", "alert");
    note.textContent = describe(failure);
    container.replaceChildren(note);
  }
}

function renderLoan(loan) {
  const article = document.createElement("article");
  article.className = "loan";
  article.dataset.loanId = loan.id;
  article.dataset.status = loan.status;
  const title = document.createElement("h3");
  title.textContent = `${loan.principal} ${loan.currency} over ${loan.term_months} months: ${loan.status}`;
  const owed = document.createElement("p");
  owed.textContent = `Outstanding principal ${loan.outstanding_principal} ${loan.currency}, ${loan.annual_rate_bps / 100}% a year`;
  article.append(title, owed, renderSchedule(loan));
  if (loan.status === "active" || loan.status === "overdue") article.append(repayForm(loan));
  return article;
}

function renderSchedule(loan) {
  const table = document.createElement("table");
  table.innerHTML =
    "<caption>Schedule</caption><thead><tr><th scope='col'>#</th><th scope='col'>Due</th>" +
    "<th scope='col' class='num'>Principal</th><th scope='col' class='num'>Interest</th>" +
    "<th scope='col' class='num'>Total</th><th scope='col' class='num'>Paid</th>" +
    "<th scope='col'>Status</th></tr></thead><tbody></tbody>";
  const body = table.querySelector("tbody");
  for (const row of loan.schedule ?? []) {
    const tr = document.createElement("tr");
    tr.append(
      cell(String(row.number)),
      cell(row.due_date),
      cell(row.principal, "num"),
      cell(row.interest, "num"),
      cell(row.total, "num"),
      cell(row.paid, "num"),
      cell(row.status),
    );
    body.append(tr);
  }
  return table;
}

function repayForm(loan) {
  const form = document.createElement("form");
  form.className = "repay inline";
  form.noValidate = true;
  const id = `repay-${loan.id}`;
  form.innerHTML =
    `<label for="${id}-from">Repay from</label><select id="${id}-from" name="from_account_id"></select>` +
    `<label for="${id}-amount">Amount</label><input id="${id}-amount" name="amount" inputmode="decimal" required>` +
    "<p class='error' role='alert' data-form-error hidden></p>" +
    "<p class='ok' role='status' data-form-ok hidden></p><button type='submit'>Repay</button>";
  form.querySelector("select").append(
    ...state.accounts
      .filter((account) => account.currency === loan.currency)
      .map((account) => new Option(accountLabel(account), account.id)),
  );
  idempotentForm(form, async (values, key) => {
    await callFunction(state.client, `loans/${loan.id}/repayments`, {
      method: "POST",
      headers: { "Idempotency-Key": key },
      body: { amount: values.amount ?? "", from_account_id: values.from_account_id ?? "" },
    });
    await refreshCustomer();
  });
  return form;
}

// Staff --------------------------------------------------------------------------------
// Admins read every loan under RLS ("Borrowers can read their loans and admins all loans"),
// so the pending ones come straight from PostgREST; decisions go through the functions.
async function loadPendingLoans() {
  const error = $("#pending-error");
  error.hidden = true;
  const loans = await rows(
    state.client
      .from("loans")
      .select("id, principal, currency, term_months, purpose, created_at, account:accounts(account_number)")
      .eq("status", "pending")
      .order("created_at"),
  );
  $("#pending-loans tbody").replaceChildren(
    ...loans.map((loan) => {
      const tr = document.createElement("tr");
      tr.dataset.loanId = loan.id;
      const decide = document.createElement("td");
      for (const [verb, label] of [["approve", "Approve"], ["reject", "Reject"]]) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = label;
        button.setAttribute("aria-label", `${label} loan to account ${loan.account?.account_number}`);
        button.addEventListener("click", () => decideLoan(loan.id, verb, button));
        decide.append(button);
      }
      tr.append(
        cell(new Date(loan.created_at).toLocaleString()),
        cell(loan.account?.account_number ?? loan.id),
        cell(money(loan.principal, loan.currency), "num"),
        cell(`${loan.term_months} months`),
        cell(loan.purpose ?? ""),
        decide,
      );
      return tr;
    }),
  );
}

async function decideLoan(loanId, verb, button) {
  const error = $("#pending-error");
  error.hidden = true;
  button.disabled = true;
  try {
    await callFunction(state.client, `admin/loans/${loanId}/${verb}`, {
      method: "POST",
      body: verb === "reject" ? {} : undefined,
    });
    await loadPendingLoans();
  } catch (failure) {
    button.disabled = false;
    error.textContent = describe(failure);
    error.hidden = false;
  }
}

async function showFoundAccount(account) {
  state.found = account;
  const box = $("#found-account");
  box.querySelector("[data-field=account_number]").textContent = account.account_number;
  box.querySelector("[data-field=status]").textContent = account.status;
  box.querySelector("[data-field=balance]").textContent = money(account.balance, account.currency);
  $("#deposit").elements.namedItem("account_id").value = account.id;
  box.hidden = false;
}

async function reloadFound() {
  const [account] = await rows(
    state.client
      .from("accounts")
      .select("id, account_number, currency, status, balance")
      .eq("id", state.found.id),
  );
  await showFoundAccount(account);
}

function setUpStaff() {
  plainForm($("#find-account"), async ({ account_number: number }) => {
    $("#found-account").hidden = true;
    const found = await rows(
      state.client
        .from("accounts")
        .select("id, account_number, currency, status, balance")
        .eq("account_number", number ?? ""),
    );
    if (found.length === 0) throw new Error(`No account numbered ${number ?? ""}`);
    await showFoundAccount(found[0]);
  });
  for (const verb of ["freeze", "unfreeze"]) {
    $(`#${verb}`).addEventListener("click", async () => {
      const error = $("#status-error");
      error.hidden = true;
      try {
        await callFunction(state.client, `admin/accounts/${state.found.id}/${verb}`, { method: "POST" });
        await reloadFound();
      } catch (failure) {
        error.textContent = describe(failure);
        error.hidden = false;
      }
    });
  }
  idempotentForm($("#deposit"), async (values, key) => {
    await callFunction(state.client, "admin/deposits", {
      method: "POST",
      headers: { "Idempotency-Key": key },
      body: {
        account_id: values.account_id ?? "",
        amount: values.amount ?? "",
        currency: state.found.currency,
        reference: values.reference ?? "",
      },
    });
    $("#deposit").reset();
    $("#deposit").elements.namedItem("account_id").value = state.found.id;
    await reloadFound();
    showOk($("#deposit"), "Deposited");
  });
}

// Start --------------------------------------------------------------------------------
async function main() {
  setUpCustomer();
  setUpStaff();
  try {
    await setUpSignIn(await loadConfig());
  } catch (failure) {
    const form = document.querySelector("form:not([hidden])");
    if (form && !$("#sign-in-page").hidden) return showError(form, failure);
    const note = $("#page-error");
    note.textContent = describe(failure);
    note.hidden = false;
  }
}

main();
