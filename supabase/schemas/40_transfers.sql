-- transfer_funds, and deferred credits for high-volume receiving accounts.
--
-- transfer_funds validates, claims its idempotency key, counts the caller's
-- limits, locks both accounts in id order and posts in one statement
-- (balances, transfer row, entries in data-modifying CTEs).

-- The first rule a transfer breaks, as {sqlstate, message, details}, or null.
-- The caller has locked (or read, for a deferred receiver) both accounts.
create function private.transfer_refusal(
  p_from_id uuid,
  p_to_id uuid,
  p_from public.accounts,
  p_to public.accounts,
  p_amount numeric,
  p_amount_minor bigint,
  p_currency public.currencies,
  p_limits public.transfer_limits
)
returns text[]
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  return case
    when p_from.id is null then
      array['BK005', format('account (id=%s) not found', p_from_id)]
    when p_to.id is null or p_to.kind = 'system' then
      array['BK005', format('account (id=%s) not found', p_to_id)]
    when p_from.id = p_to.id then
      array['BK003', format('account (id=%s) cannot transfer to itself', p_from.id)]
    when p_from.currency <> p_currency.code then
      array['BK002', format('account (id=%s) holds %s, not %s', p_from.id, p_from.currency, p_currency.code)]
    when p_to.currency <> p_currency.code then
      array['BK002', format('account (id=%s) holds %s, not %s', p_to.id, p_to.currency, p_currency.code)]
    when p_from.status <> 'active' then
      array['BK004', format('account (id=%s) is %s', p_from.id, p_from.status), p_from.status]
    when p_to.status <> 'active' then
      array['BK004', format('account (id=%s) is %s', p_to.id, p_to.status), p_to.status]
    when p_amount_minor > p_currency.max_transfer_minor then
      array['BK007', format('amount (%s %s) is over the limit of %s per transfer',
             p_amount, p_currency.code,
             private.format_amount(p_currency.max_transfer_minor, p_currency.code)),
            'max_transfer_minor']
    when p_limits.outgoing_minor > p_currency.daily_outgoing_limit_minor then
      array['BK007', format('transfers today would exceed the daily limit of %s',
             private.format_amount(p_currency.daily_outgoing_limit_minor, p_currency.code)),
            'daily_outgoing_limit_minor']
    when p_from.balance - p_from.held_minor - p_amount_minor < -p_from.overdraft_limit then
      array['BK001', format('account (id=%s) has insufficient funds: %s available, %s requested',
             p_from.id,
             private.format_amount(p_from.balance - p_from.held_minor + p_from.overdraft_limit,
                                   p_currency.code),
             private.format_amount(p_amount_minor, p_currency.code))]
  end;
end;
$$;

revoke execute on function private.transfer_refusal(
  uuid, uuid, public.accounts, public.accounts, numeric, bigint, public.currencies,
  public.transfer_limits
) from public;

-- The parts of a transfer request checked before its key is claimed, in
-- the order the functions check them: BK009 naming the parameter.
create function private.check_transfer_request(
  p_from_account_id uuid, p_to_account_id uuid, p_idempotency_key text, p_description text
)
returns void
language plpgsql
immutable
security invoker
set search_path = ''
as $$
begin
  perform private.require_idempotency_key(p_idempotency_key);
  if char_length(p_description) > 280 then
    perform private.raise_invalid('p_description', 'description must be at most 280 characters');
  end if;
  if p_from_account_id is null or p_to_account_id is null then
    perform private.raise_invalid(
      case when p_from_account_id is null then 'p_from_account_id' else 'p_to_account_id' end,
      'both accounts are required');
  end if;
end;
$$;

revoke execute on function private.check_transfer_request(uuid, uuid, text, text) from public;

-- Validate, claim the key, count the caller's limits, lock both accounts in id
-- order (the sender only if the caller owns it; the receiver only when it does
-- not take deferred credits: a deferred receiver is read without a lock, see
-- below), check every rule, post. A refusal is stored under the key and
-- returned, and it gives back what the limits counted. An amount over the
-- per-transfer limit is refused by that limit, so it is not counted for the day.
create function private.transfer_funds(
  p_from_account_id uuid,
  p_to_account_id uuid,
  p_amount numeric,
  p_currency text,
  p_idempotency_key text,
  p_description text
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_caller uuid := private.require_user('transfer_funds');
  v_currency public.currencies;
  v_amount bigint;
  v_counted bigint;
  v_hash bytea;
  v_transfer_id uuid := gen_random_uuid();
  v_limits public.transfer_limits;
  v_row public.accounts;
  v_from public.accounts;
  v_to public.accounts;
  v_refusal text[];
begin
  select * into v_currency from public.currencies where code = p_currency;
  if v_currency.code is null then
    perform private.raise_invalid('p_currency', format('currency (%s) is not supported', p_currency));
  end if;
  v_amount := private.minor_units(p_amount, v_currency.exponent, 'p_amount', v_currency.code);
  perform private.check_transfer_request(
    p_from_account_id, p_to_account_id, p_idempotency_key, p_description);
  v_hash := sha256(convert_to(jsonb_build_array(
    'transfer_funds', p_from_account_id, p_to_account_id, v_amount, p_currency, p_description
  )::text, 'UTF8'));
  if not private.claim_idempotency_key(v_caller, p_idempotency_key, v_hash, v_transfer_id) then
    return private.replay_idempotency_key(v_caller, p_idempotency_key, v_hash);
  end if;
  v_counted := case when v_amount > v_currency.max_transfer_minor then 0 else v_amount end;
  v_limits := private.count_money_movement(v_caller, p_currency, v_counted);
  for v_row in
    select * from public.accounts
     where id in (p_from_account_id, p_to_account_id)
       and (id <> p_from_account_id or owner_id = v_caller)
       and (id = p_from_account_id or not deferred_credits)
     order by id
       for no key update
  loop
    if v_row.id = p_from_account_id then v_from := v_row; end if;
    if v_row.id = p_to_account_id then v_to := v_row; end if;
  end loop;
  if v_to.id is null then  -- deferred (credited through pending_credits) or missing
    select * into v_to from public.accounts where id = p_to_account_id;
    v_to.deferred_credits := true;
  end if;
  if v_from.deferred_credits then v_from := private.settle_account(v_from); end if;
  if v_from.held_minor > 0 then v_from := private.release_expired_holds(v_from); end if;
  v_refusal := private.transfer_refusal(
    p_from_account_id, p_to_account_id, v_from, v_to, p_amount, v_amount, v_currency, v_limits);
  if v_refusal is not null then
    update public.transfer_limits set outgoing_minor = greatest(outgoing_minor - v_counted, 0)
     where user_id = v_caller and currency = p_currency;
    return private.refuse(v_caller, p_idempotency_key, v_refusal[1], v_refusal[2], v_refusal[3]);
  end if;
  return to_jsonb(private.post_transfer_with_entries(v_transfer_id, 'transfer', v_from, v_to,
    v_amount, p_description, v_caller, v_to.deferred_credits)) || '{"replayed": false}'::jsonb;
end;
$$;

revoke execute on function private.transfer_funds(uuid, uuid, numeric, text, text, text)
  from public;

grant execute on function private.transfer_funds(uuid, uuid, numeric, text, text, text)
  to authenticated;

-- The RPC PostgREST exposes: a thin invoker wrapper, so the definer function
-- stays out of the exposed schema.
create function public.transfer_funds(
  p_from_account_id uuid,
  p_to_account_id uuid,
  p_amount numeric,
  p_currency text,
  p_idempotency_key text,
  p_description text default null
)
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.transfer_funds(
    p_from_account_id, p_to_account_id, p_amount, p_currency, p_idempotency_key, p_description
  )
$$;

revoke execute on function public.transfer_funds(uuid, uuid, numeric, text, text, text)
  from public, anon, authenticated, service_role;

grant execute on function public.transfer_funds(uuid, uuid, numeric, text, text, text)
  to authenticated;

-- Deferred credits: transfers into a designated high-volume account do not
-- hold that account's row lock until commit.
--
-- transfer_funds locks both accounts until commit, so every transfer into one
-- hot account (a merchant, the bank's own system accounts) waits for the
-- previous one's commit flush: throughput collapses to one commit at a time
-- (docs/decisions/ has the measurement).
--
-- `accounts.deferred_credits` (default false; staff set it from the dashboard
-- like status or nickname, audited) marks such an account. A transfer_funds
-- credit to it:
--   * locks only the sender (`for no key update`), reads the receiver without
--     a lock and checks its kind, currency and status;
--   * debits the sender with its entry, writes the transfer row, and appends
--     the credit to `public.pending_credits` instead of touching the
--     receiver's row.
-- `private.settle_account` (run by `public.settle_pending_credits`, by pg_cron,
-- and first thing by every debit of a deferred account) locks the receiver's
-- row, deletes its committed pending credits and posts them as entries in id
-- order with contiguous versions, running balance_after and chained hashes,
-- then adds their sum to the balance: one transaction, so
-- balance = sum of entries and contiguous versions hold at every commit.
-- The pending credits of a transfer plus its entries sum to zero
-- (sql/checks/01), and an unsettled credit always belongs to a transfer with
-- exactly its debit entry (sql/checks/07).
--
-- Reading the receiver without a lock is still linearizable: the credit never
-- writes the receiver's row, so the only thing the lock would protect is the
-- status (currency and kind never change). The transfer reads the status at a
-- moment inside its own lifetime; a freeze that commits before that read is
-- seen (the credit is refused, BK004); a freeze that commits after it is
-- concurrent with the transfer, and ordering the transfer first is a valid
-- serial order. Funds are never at stake: credits only add money, and any
-- debit of a deferred account settles it first, under that account's lock,
-- so a debit sees every committed credit and can never spend one twice. A
-- settle posts credits accepted while the account was active even if it is
-- frozen since (they were accepted; freezing stops new ones).
--
-- What is lost: until a settle, `accounts.balance` of a deferred account lags
-- its committed credits (owners read them in `pending_credits`), and the
-- credit entry's created_at is its settle time (when it joined the balance).
-- Turning the flag off leaves any pending credits for the next settle
-- (`settle_pending_credits()` with no argument settles every account that has
-- some).
--
-- Schedule the settle with pg_cron on hosted Supabase (runs as postgres, which
-- counts as staff):
--   select cron.schedule('settle-pending-credits', '5 seconds',
--                        'select public.settle_pending_credits()');


comment on column public.accounts.deferred_credits is
  'High-volume account: transfer_funds credits go to pending_credits without locking this row; '
  'settled into entries by public.settle_pending_credits (pg_cron) and before any debit.';

create table public.pending_credits (
  id bigint generated always as identity primary key,
  transfer_id uuid not null references public.transfers (id),
  account_id uuid not null references public.accounts (id),
  amount bigint not null check (amount > 0),
  description text check (char_length(description) <= 280),
  counterparty_account_id uuid not null,
  created_at timestamptz not null default now()
);

-- The settle's scan (in id order) and the policy's account_id filter.
create index pending_credits_account_id_id_idx on public.pending_credits (account_id, id);

create index pending_credits_transfer_id_idx on public.pending_credits (transfer_id);

alter table public.pending_credits enable row level security;

revoke all on table public.pending_credits from anon, authenticated, service_role;

grant select on table public.pending_credits to authenticated, service_role;

create policy "Owners can read their accounts' pending credits, admins all"
  on public.pending_credits for select to authenticated
  using (
    account_id in (select id from public.accounts where owner_id = (select auth.uid()))
    or (select private.is_admin())
  );

-- Guarded like entries: never updated or truncated; inserted and deleted
-- (moved into entries) only by the ledger's posting functions.
create trigger pending_credits_are_never_updated
  before update on public.pending_credits
  for each row execute function private.refuse_change('pending credits are never updated');

create trigger pending_credits_cannot_be_truncated
  before truncate on public.pending_credits
  for each statement execute function private.refuse_change('pending credits are settled, never truncated');

create trigger pending_credits_come_from_postings
  before insert or delete on public.pending_credits
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change('pending credits are written and settled only by the ledger''s functions');

-- Settle -----------------------------------------------------------------------

-- Move the account's committed pending credits into entries, in id order, and
-- add them to the balance. `p_account` is the row as the caller locked it
-- (`for no key update`); answers the row after the settle. One statement
-- deletes the credits; each entry's hash needs the one before it, so a loop
-- chains them in order (linear in the batch) and one insert posts them, all
-- in the caller's transaction, so a credit is either pending or an entry.
create function private.settle_account(p_account public.accounts)
returns public.accounts
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_ids bigint[];
  v_transfer_ids uuid[];
  v_amounts bigint[];
  v_descriptions text[];
  v_counterparty_ids uuid[];
  v_balances bigint[] := '{}';
  v_hashes bytea[] := '{}';
  v_balance bigint := p_account.balance;
  v_hash bytea;
  v_account public.accounts := p_account;
begin
  with moved as (
    delete from public.pending_credits where account_id = p_account.id
    returning id, transfer_id, amount, description, counterparty_account_id
  )
  select array_agg(id order by id), array_agg(transfer_id order by id),
         array_agg(amount order by id), array_agg(description order by id),
         array_agg(counterparty_account_id order by id)
    into v_ids, v_transfer_ids, v_amounts, v_descriptions, v_counterparty_ids
    from moved;
  if v_ids is null then
    return v_account;
  end if;
  select e.hash into v_hash
    from public.entries as e
   where e.account_id = p_account.id and e.account_version = p_account.version;
  for i in 1 .. cardinality(v_ids) loop
    v_balance := v_balance + v_amounts[i];
    v_hash := private.entry_hash(v_hash, v_transfer_ids[i], p_account.id, p_account.version + i,
                                 v_amounts[i], v_balance, v_counterparty_ids[i], v_descriptions[i],
                                 now());
    v_balances := v_balances || v_balance;
    v_hashes := v_hashes || v_hash;
  end loop;
  insert into public.entries
    (transfer_id, account_id, amount, balance_after, account_version, description,
     counterparty_account_id, created_at, hash)
  select c.transfer_id, p_account.id, c.amount, c.balance_after, p_account.version + c.n,
         c.description, c.counterparty_account_id, now(), c.hash
    from unnest(v_transfer_ids, v_amounts, v_balances, v_descriptions, v_counterparty_ids, v_hashes)
         with ordinality
         as c (transfer_id, amount, balance_after, description, counterparty_account_id, hash, n)
   order by c.n;
  update public.accounts
     set balance = v_balance, version = version + cardinality(v_ids), updated_at = now()
   where id = p_account.id
  returning * into v_account;
  return v_account;
end;
$$;

-- Settle one account (locking it), or, with null, every account that has
-- pending credits, locked one by one in id order (the order every transfer
-- locks in, so this cannot deadlock with them). Answers how many credits it
-- moved. Staff only: an admin's token, service_role, the dashboard, pg_cron.
create function private.settle_pending_credits(p_account_id uuid)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account public.accounts;
  v_before bigint;
  v_moved bigint := 0;
begin
  perform private.require_staff('settle_pending_credits');
  for v_account in
    select a.* from public.accounts as a
     where (p_account_id is null
            and a.id in (select distinct p.account_id from public.pending_credits as p))
        or a.id = p_account_id
     order by a.id
       for no key update
  loop
    v_before := v_account.version;
    v_account := private.settle_account(v_account);
    v_moved := v_moved + (v_account.version - v_before);
  end loop;
  return v_moved;
end;
$$;

revoke execute on function
  private.settle_account(public.accounts),
  private.settle_pending_credits(uuid)
from public;

grant execute on function private.settle_pending_credits(uuid) to authenticated, service_role;

create function public.settle_pending_credits(p_account_id uuid default null)
returns bigint
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.settle_pending_credits(p_account_id)
$$;

revoke execute on function public.settle_pending_credits(uuid)
  from public, anon, authenticated, service_role;

grant execute on function public.settle_pending_credits(uuid) to authenticated, service_role;

-- The one statement that posts a transfer, for every caller: it moves the
-- balances, writes the entries (each chained to its account's previous entry,
-- which the caller's lock keeps in place) and the transfer row. With
-- `p_credit_pending` (a receiver with deferred credits, read without a lock)
-- the receiver's row is not touched: its credit goes to pending_credits.
-- A debited deferred account is settled first, so its entries keep their
-- order even for callers that do not settle themselves (the loan functions:
-- their funds check sees the balance before the settle, which can only
-- refuse, never overdraw).
--
-- The entry hash is private.entry_hash's expression written out, so that
-- Postgres evaluates it in the statement instead of calling a function with a
-- SET clause twice per transfer
-- (docs/decisions/0016-hash-chain-written-out-in-the-posting.md).
create function private.post_transfer_with_entries(
  p_transfer_id uuid,
  p_kind text,
  p_from public.accounts,
  p_to public.accounts,
  p_amount_minor bigint,
  p_description text,
  p_initiated_by uuid,
  p_credit_pending boolean
)
returns public.transfers
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_transfer public.transfers;
begin
  if p_from.deferred_credits then
    p_from := private.settle_account(p_from);
  end if;
  with balances as (
    update public.accounts
       set balance = balance + case when id = p_to.id then p_amount_minor else -p_amount_minor end,
           version = version + 1,
           updated_at = now()
     where id = p_from.id or (id = p_to.id and not p_credit_pending)
  ), lines (account_id, amount, balance_after, account_version, counterparty_account_id) as (
    values (p_from.id, -p_amount_minor, p_from.balance - p_amount_minor, p_from.version + 1, p_to.id),
           (p_to.id, p_amount_minor, p_to.balance + p_amount_minor, p_to.version + 1, p_from.id)
  ), posted as (
    insert into public.entries
      (transfer_id, account_id, amount, balance_after, account_version, description,
       counterparty_account_id, created_at, hash)
    select p_transfer_id, l.account_id, l.amount, l.balance_after, l.account_version,
           p_description, l.counterparty_account_id, now(),
           pg_catalog.sha256(
             coalesce((select e.hash from public.entries as e
                        where e.account_id = l.account_id
                          and e.account_version = l.account_version - 1), ''::bytea)
               || pg_catalog.uuid_send(p_transfer_id)
               || pg_catalog.uuid_send(l.account_id)
               || pg_catalog.int8send(l.account_version)
               || pg_catalog.int8send(l.amount)
               || pg_catalog.int8send(l.balance_after)
               || pg_catalog.uuid_send(l.counterparty_account_id)
               || pg_catalog.int8send((extract(epoch from now()) * 1000000)::bigint)
               || case when p_description is null then '\x00'::bytea
                       else '\x01'::bytea || pg_catalog.convert_to(p_description, 'UTF8') end)
      from lines as l
     where l.account_id = p_from.id or not p_credit_pending
  ), pending as (
    insert into public.pending_credits
      (transfer_id, account_id, amount, description, counterparty_account_id)
    select p_transfer_id, p_to.id, p_amount_minor, p_description, p_from.id
     where p_credit_pending
  )
  insert into public.transfers
    (id, kind, from_account_id, to_account_id, amount, currency, description, initiated_by)
  values
    (p_transfer_id, p_kind, p_from.id, p_to.id, p_amount_minor, p_from.currency, p_description,
     p_initiated_by)
  returning * into v_transfer;
  return v_transfer;
end;
$$;

-- A transfer into a deferred account: the sender (locked, settled if it is
-- deferred itself, every rule checked) is debited with its entry; the credit
-- is appended to pending_credits; the receiver's row is not touched.
create function private.post_transfer_deferred(
  p_transfer_id uuid,
  p_kind text,
  p_from public.accounts,
  p_to public.accounts,
  p_amount_minor bigint,
  p_description text,
  p_initiated_by uuid
)
returns public.transfers
language plpgsql
security invoker
set search_path = ''
as $$
begin
  return private.post_transfer_with_entries(
    p_transfer_id, p_kind, p_from, p_to, p_amount_minor, p_description, p_initiated_by, true);
end;
$$;

revoke execute on function
  private.post_transfer_with_entries(
    uuid, text, public.accounts, public.accounts, bigint, text, uuid, boolean),
  private.post_transfer_deferred(uuid, text, public.accounts, public.accounts, bigint, text, uuid)
from public;
