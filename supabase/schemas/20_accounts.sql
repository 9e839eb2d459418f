-- Accounts: customers' checking and savings accounts and the bank's own system
-- accounts, and the functions a customer opens and renames them with.
--
-- The balance is stored on the row (bigint minor units) so a transfer checks
-- funds by reading one locked row, and `version` counts the entries posted to
-- the account, so entries can prove they are contiguous. Both change only
-- through the ledger's posting function (30_ledger.sql, guarded in
-- 60_audit_and_guards.sql). A customer account may not go below minus its
-- overdraft limit; that is a check constraint as well as a check in
-- transfer_funds, so not even a bug in a function can break it. System
-- accounts (owner_id null) may go negative: the cash account is the bank's
-- side of every deposit.
--
-- System accounts are named by `system_purpose`, unique per currency and
-- purpose, found with `private.system_account(currency, purpose)`; every
-- currency gets its cash account from a trigger when it is inserted.
--
-- Account numbers are ten digits: an eight-digit serial from a sequence and
-- two ISO 7064 MOD 97-10 check digits (as in IBAN), so the whole number mod
-- 97 is 1 and a mistyped digit or swapped pair is caught.

create sequence private.account_number_seq as bigint start with 10000001 maxvalue 99999999;

create function private.next_account_number()
returns text
language sql
volatile
security invoker
set search_path = ''
as $$
  select serial::text || lpad((98 - (serial * 100) % 97)::text, 2, '0')
    from (select nextval('private.account_number_seq') as serial) as next
$$;

revoke execute on function private.next_account_number() from public;

create table public.accounts (
  id uuid primary key default gen_random_uuid(),
  account_number text not null unique
    default private.next_account_number()
    check (account_number ~ '^[0-9]{10}$' and account_number::numeric % 97 = 1),
  owner_id uuid references public.profiles (id),
  kind text not null check (kind in ('checking', 'savings', 'system')),
  system_purpose text check (system_purpose ~ '^[a-z_]{1,32}$'),
  currency text not null references public.currencies (code),
  status text not null default 'active' check (status in ('active', 'frozen', 'closed')),
  balance bigint not null default 0,
  overdraft_limit bigint not null default 0 check (overdraft_limit >= 0),
  version bigint not null default 0 check (version >= 0),
  nickname text check (char_length(nickname) <= 64),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- staff opt an account into deferred credits: see 40_transfers.sql.
  deferred_credits boolean not null default false,
  -- what the account's pending holds reserve: see 45_holds.sql.
  held_minor bigint not null default 0 constraint accounts_held_minor_not_negative check (held_minor >= 0),
  constraint accounts_owner_matches_kind check (
    (kind = 'system') = (owner_id is null)
    and (kind = 'system') = (system_purpose is not null)
  ),
  constraint accounts_balance_within_overdraft check (
    kind = 'system' or balance >= -overdraft_limit
  ),
  -- Once placed, a hold can always be captured: nothing spends what it reserves.
  constraint accounts_holds_within_overdraft check (
    kind = 'system' or balance - held_minor >= -overdraft_limit
  )
);

comment on column public.accounts.balance is
  'Minor units. Equals the sum of the account''s entries; changed only by the ledger''s posting function.';

comment on column public.accounts.held_minor is
  'Minor units reserved by the account''s pending holds; changed only by the hold functions.';

comment on column public.accounts.version is
  'The number of entries posted to the account; entries carry 1..version.';

-- The policies filter on owner_id; the system account lookup on (currency, purpose).
create index accounts_owner_id_idx on public.accounts (owner_id);

create unique index accounts_system_purpose_key
  on public.accounts (currency, system_purpose) where kind = 'system';

alter table public.accounts enable row level security;

revoke all on table public.accounts from anon, authenticated, service_role;

grant select on table public.accounts to authenticated, service_role;

create policy "Owners can read their accounts and admins every account"
  on public.accounts for select to authenticated
  using (owner_id = (select auth.uid()) or (select private.is_admin()));

-- Nobody inserts, updates or deletes accounts through PostgREST: no grant, so
-- no policy. open_account, rename_account and the admin functions do it.

-- The bank's system account of a currency for a purpose ('cash',
-- 'loan_funding', ...), or BK005.
create function private.system_account(p_currency text, p_purpose text)
returns uuid
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_account_id uuid;
begin
  select id into v_account_id from public.accounts
   where kind = 'system' and currency = p_currency and system_purpose = p_purpose;
  if v_account_id is null then
    raise exception using errcode = 'BK005',
      message = format('no %s system account for %s', p_purpose, p_currency);
  end if;
  return v_account_id;
end;
$$;

revoke execute on function private.system_account(text, text) from public;

-- The bank's cash account in every currency, made with the currency: a row
-- added to `currencies` later (from the dashboard, or by a test) gets its own.
create function private.create_cash_account_for_currency()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.accounts (kind, system_purpose, currency, nickname)
  values ('system', 'cash', new.code, new.code || ' cash');
  return new;
end;
$$;

revoke execute on function private.create_cash_account_for_currency() from public;

create trigger currencies_create_cash_account
  after insert on public.currencies
  for each row execute function private.create_cash_account_for_currency();


-- open_account and rename_account: what a customer may do to their accounts.
-- Customers hold no insert or update grant on accounts, so PostgREST can never
-- write a balance, an owner or a status for them. These security definer
-- functions write exactly the columns a customer may choose: the currency and
-- kind of a new account, and a nickname.

create function private.open_account(p_currency text, p_kind text, p_nickname text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_caller uuid := auth.uid();
  v_account public.accounts;
begin
  if v_caller is null then
    raise exception using errcode = 'BK010', message = 'open_account needs a signed-in user';
  end if;
  if p_kind is null or p_kind not in ('checking', 'savings') then
    perform private.raise_invalid('p_kind', format('kind (%s) must be checking or savings', p_kind));
  end if;
  if not exists (select from public.currencies where code = p_currency) then
    perform private.raise_invalid('p_currency', format('currency (%s) is not supported', p_currency));
  end if;
  if char_length(p_nickname) > 64 then
    perform private.raise_invalid('p_nickname', 'nickname must be at most 64 characters');
  end if;
  -- A limit on everything: twenty open accounts per customer.
  if (select count(*) from public.accounts where owner_id = v_caller and status <> 'closed') >= 20 then
    raise exception using errcode = 'BK007',
      message = format('user (id=%s) already has 20 open accounts', v_caller);
  end if;

  insert into public.accounts (owner_id, kind, currency, nickname)
  values (v_caller, p_kind, p_currency, p_nickname)
  returning * into v_account;
  return to_jsonb(v_account);
end;
$$;

create function private.rename_account(p_account_id uuid, p_nickname text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_caller uuid := auth.uid();
  v_account public.accounts;
begin
  if char_length(p_nickname) > 64 then
    perform private.raise_invalid('p_nickname', 'nickname must be at most 64 characters');
  end if;
  update public.accounts
     set nickname = p_nickname
   where id = p_account_id and owner_id = v_caller
  returning * into v_account;
  if v_account.id is null then
    raise exception using errcode = 'BK005',
      message = format('account (id=%s) not found', p_account_id);
  end if;
  return to_jsonb(v_account);
end;
$$;

revoke execute on function
  private.open_account(text, text, text),
  private.rename_account(uuid, text)
from public;

grant execute on function
  private.open_account(text, text, text),
  private.rename_account(uuid, text)
to authenticated;

create function public.open_account(p_currency text, p_kind text, p_nickname text default null)
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.open_account(p_currency, p_kind, p_nickname)
$$;

create function public.rename_account(p_account_id uuid, p_nickname text)
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.rename_account(p_account_id, p_nickname)
$$;

revoke execute on function
  public.open_account(text, text, text),
  public.rename_account(uuid, text)
from public, anon, authenticated, service_role;

grant execute on function
  public.open_account(text, text, text),
  public.rename_account(uuid, text)
to authenticated;
