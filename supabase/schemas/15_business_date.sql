-- Business dates come from one function, in the bank's timezone.
--
-- A business date (a loan's disbursement and due dates, the day a repayment
-- is allocated on, the default of a payoff quote and of the close of
-- business) is the bank's, so it is read from a setting of the database that
-- no session can change. `current_date` would not do: it is the date in the
-- session's TimeZone, which any caller chooses (PostgREST applies
-- `Prefer: timezone=...`), and a day either way changes a payoff amount.
--
--   * `private.bank_settings` holds one row with the bank's IANA timezone
--     (UTC here; a bank sets its own from the dashboard, audited). Only staff
--     can write it (no API role has a grant); it cannot be deleted or
--     truncated, and an unknown timezone is refused.
--   * `private.business_date()` is today in that timezone:
--     `(now() at time zone <bank tz>)::date`, whatever the session's TimeZone.

create table private.bank_settings (
  id boolean primary key default true check (id),
  timezone text not null
);

comment on table private.bank_settings is
  'One row: the bank''s own settings. timezone (IANA name) is the zone of every business date.';


create function private.guard_bank_settings()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' then
    raise exception using errcode = 'BK011', message = 'the bank settings row cannot be deleted';
  end if;
  if not exists (select from pg_catalog.pg_timezone_names where name = new.timezone) then
    raise exception using
      errcode = 'BK009',
      message = format('timezone (%s) is not a known IANA timezone', new.timezone),
      detail = 'timezone';
  end if;
  return new;
end;
$$;

revoke execute on function private.guard_bank_settings() from public;

create trigger bank_settings_guard
  before insert or update or delete on private.bank_settings
  for each row execute function private.guard_bank_settings();

create trigger bank_settings_cannot_be_truncated
  before truncate on private.bank_settings
  for each statement execute function private.refuse_change('the bank settings row is kept');

create trigger bank_settings_audit_changes
  after insert or update or delete on private.bank_settings
  for each row execute function private.write_audit_log();

-- Today in the bank's timezone. Security definer so API roles, which cannot
-- read private.bank_settings, can call it (as the payoff quote's default).
create function private.business_date()
returns date
language sql
stable
security definer
set search_path = ''
as $$
  select (now() at time zone s.timezone)::date from private.bank_settings as s
$$;

alter function private.business_date() owner to ledger_owner;

revoke execute on function private.business_date() from public;

grant execute on function private.business_date() to authenticated, service_role, ledger_owner;

