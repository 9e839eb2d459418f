-- Currencies, profiles and who counts as staff.
--
-- Every amount in the ledger is an integer of minor units, so the currency
-- table (ISO 4217 code and exponent) is what turns "12.34" into 1234 and
-- refuses "12.345" instead of rounding it. The same row carries the
-- per-currency limits a transfer is held to, because they are read on every
-- transfer anyway and a second lookup would cost every call.
--
-- A profile is made for every new auth user by a trigger on `auth.users`,
-- which lives in 95_platform_hooks_and_reference_data.sql because pg-delta
-- does not manage Supabase's `auth` schema. The currencies' rows are there too.


-- Roles come from app_metadata only: users can edit their own user_metadata.
-- Stable and tiny so policies can call it as `(select private.is_admin())`,
-- evaluated once per statement.
create function private.is_admin()
returns boolean
language sql
stable
security invoker
set search_path = ''
as $$
  select coalesce((auth.jwt() -> 'app_metadata' ->> 'role') = 'admin', false)
$$;

-- Bank staff: an admin's token, the service_role key, or the dashboard (no
-- token at all, logged in as postgres). Called from security definer
-- functions, where current_user is always the owner, so the dashboard is
-- recognised by session_user: PostgREST always logs in as `authenticator`.
create function private.is_staff()
returns boolean
language sql
stable
security invoker
set search_path = ''
as $$
  select private.is_admin()
      or coalesce(auth.role() = 'service_role', false)
      or (auth.jwt() is null and session_user in ('postgres', 'supabase_admin'))
$$;

revoke execute on function private.is_admin(), private.is_staff() from public;

grant execute on function private.is_admin(), private.is_staff() to authenticated, service_role;

-- Currencies ------------------------------------------------------------------
create table public.currencies (
  code text primary key check (code ~ '^[A-Z]{3}$'),
  exponent smallint not null check (exponent between 0 and 4),
  name text not null check (char_length(name) between 1 and 64),
  -- The largest single transfer a customer may send, in minor units.
  max_transfer_minor bigint not null check (max_transfer_minor > 0),
  -- What one user may send in this currency per UTC day, in minor units.
  daily_outgoing_limit_minor bigint not null check (daily_outgoing_limit_minor > 0),
  -- How many transfers one user may start in this currency per minute.
  transfers_per_minute integer not null check (transfers_per_minute > 0)
);

alter table public.currencies enable row level security;

revoke all on table public.currencies from anon, authenticated, service_role;

grant select on table public.currencies to anon, authenticated, service_role;

create policy "Visitors can read currencies"
  on public.currencies for select to anon
  using (true);

create policy "Signed-in users can read currencies"
  on public.currencies for select to authenticated
  using (true);

-- An amount of minor units as the API gives it: a decimal string with the
-- currency's exponent and its code, e.g. 12650 USD → '126.50 USD'. Every
-- message and `details` value that carries an amount is written with it, so
-- the SQL speaks the same units as the API.
create function private.format_amount(p_minor numeric, p_currency text)
returns text
language sql
stable
security invoker
set search_path = ''
as $$
  select round(p_minor / 10::numeric ^ c.exponent, c.exponent)::text || ' ' || c.code
    from public.currencies as c
   where c.code = p_currency
$$;

-- The same, without the code: what a `details` value carries next to a
-- response whose currency is already known.
create function private.format_minor(p_minor numeric, p_currency text)
returns text
language sql
stable
security invoker
set search_path = ''
as $$
  select round(p_minor / 10::numeric ^ c.exponent, c.exponent)::text
    from public.currencies as c
   where c.code = p_currency
$$;

revoke execute on function
  private.format_amount(numeric, text),
  private.format_minor(numeric, text)
from public;


-- Profiles --------------------------------------------------------------------
-- One per auth.users row, made by Supabase Auth's insert through the trigger
-- below, so every account owner is a known user.
create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  email text check (char_length(email) <= 320),
  created_at timestamptz not null default now()
);

alter table public.profiles enable row level security;

revoke all on table public.profiles from anon, authenticated, service_role;

grant select on table public.profiles to authenticated, service_role;

create policy "Users can read their own profile and admins every profile"
  on public.profiles for select to authenticated
  using (id = (select auth.uid()) or (select private.is_admin()));

-- Security definer: Supabase Auth's role inserts into auth.users and has no
-- rights on public.profiles.
create function private.create_profile_for_new_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.profiles (id, email)
  values (new.id, new.email)
  on conflict (id) do nothing;
  return new;
end;
$$;

revoke execute on function private.create_profile_for_new_user() from public;

