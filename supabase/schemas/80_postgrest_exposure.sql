-- Direct PostgREST shows no more than the functions.
--
-- A customer holding the anon key can skip the functions and call PostgREST:
--
--   * `transfers.initiated_by` is the auth user id of whoever started a
--     transfer, which the receiver must not learn. The functions never return
--     it (functions/transfers/_public.py TRANSFER_COLUMNS), so `authenticated` has
--     column privileges on every other column of transfers and none on
--     initiated_by. service_role and the security definer functions (which
--     build the RPC replies) still read it; `select=*` on transfers with a
--     user token is refused (42501), so a client names its columns.
--   * `Prefer: count=planned` or `count=estimated` makes PostgREST answer the
--     planner's row estimate for the whole table, which RLS does not filter:
--     a bank-wide count of transfers. `count=exact` counts only the rows RLS
--     lets the caller see and stays allowed.
--   * PostgREST accepts a token for role `authenticated` whose `aud` is
--     foreign or missing; the functions refuse it.
--
-- The last two are a PostgREST pre-request function, `private.check_request`,
-- set on the authenticator role as `pgrst.db_pre_request` (in
-- 95_platform_hooks_and_reference_data.sql: pg-delta does not manage role
-- settings), read at PostgREST's start and on `notify pgrst, 'reload config'`.
-- It runs as the request's role before every request and raises PT400 /
-- PT401, PostgREST's own codes for an answer with that status. The anon key
-- and the service_role key carry no `aud` and keep working: the audience is
-- checked for the `authenticated` role, the only one a user's token has.

revoke select on table public.transfers from authenticated;

grant select (id, kind, from_account_id, to_account_id, amount, currency, description, status,
              created_at)
  on table public.transfers to authenticated;

create function private.check_request()
returns void
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_prefer text := coalesce(
    nullif(current_setting('request.headers', true), '')::jsonb ->> 'prefer', '');
  v_aud jsonb := auth.jwt() -> 'aud';
begin
  if v_prefer ~* 'count\s*=\s*(planned|estimated)' then
    raise exception using
      errcode = 'PT400',
      message = 'Prefer: count=planned and count=estimated are not supported; use count=exact',
      detail = 'prefer';
  end if;
  if auth.role() = 'authenticated'
     and not coalesce(v_aud = '"authenticated"'::jsonb
                      or (jsonb_typeof(v_aud) = 'array' and v_aud ? 'authenticated'), false) then
    raise exception using
      errcode = 'PT401',
      message = 'the token''s audience (aud) is not "authenticated"';
  end if;
end;
$$;

revoke execute on function private.check_request() from public;

grant usage on schema private to anon;

grant execute on function private.check_request() to anon, authenticated, service_role;

