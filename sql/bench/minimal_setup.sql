-- The yardstick for transfer_funds: a bare transfer with no checks at all.
-- Created by bench/run.py in the bench database only (never a migration), in a
-- schema of its own. Same shape of work as the ledger's transfer: lock two
-- account rows in id order, update two balances, insert one transfer and two
-- entries carrying balance_after and the account version. Variable: :accounts.
drop schema if exists bench_minimal cascade;
create schema bench_minimal;

create table bench_minimal.accounts (
  id bigint primary key,
  balance bigint not null,
  version bigint not null default 0
);

create table bench_minimal.transfers (
  id uuid primary key default gen_random_uuid(),
  from_account_id bigint not null,
  to_account_id bigint not null,
  amount bigint not null,
  idempotency_key text not null,
  created_at timestamptz not null default now()
);

create table bench_minimal.entries (
  id bigint generated always as identity primary key,
  transfer_id uuid not null,
  account_id bigint not null,
  amount bigint not null,
  balance_after bigint not null,
  account_version bigint not null,
  created_at timestamptz not null default now()
);
create index on bench_minimal.entries (account_id, id);

insert into bench_minimal.accounts (id, balance)
select g, 1000000000000 from generate_series(1, :accounts) as g;

create function bench_minimal.transfer(
  p_from bigint, p_to bigint, p_amount bigint, p_idempotency_key text
) returns uuid
language plpgsql
set search_path = ''
as $$
declare
  v_transfer uuid;
  v_from_balance bigint;
  v_from_version bigint;
  v_to_balance bigint;
  v_to_version bigint;
begin
  perform 1 from bench_minimal.accounts
   where id in (p_from, p_to) order by id for update;
  update bench_minimal.accounts
     set balance = balance - p_amount, version = version + 1
   where id = p_from returning balance, version into v_from_balance, v_from_version;
  update bench_minimal.accounts
     set balance = balance + p_amount, version = version + 1
   where id = p_to returning balance, version into v_to_balance, v_to_version;
  insert into bench_minimal.transfers (from_account_id, to_account_id, amount, idempotency_key)
  values (p_from, p_to, p_amount, p_idempotency_key) returning id into v_transfer;
  insert into bench_minimal.entries (transfer_id, account_id, amount, balance_after, account_version)
  values (v_transfer, p_from, -p_amount, v_from_balance, v_from_version),
         (v_transfer, p_to, p_amount, v_to_balance, v_to_version);
  return v_transfer;
end;
$$;

vacuum analyze bench_minimal.accounts;
