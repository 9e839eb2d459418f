-- The audit log and the two trigger functions every guard uses.
--
-- Staff edit tables in the Supabase dashboard as `postgres`, which bypasses
-- RLS and holds every grant. Triggers hold for every role, so they are what
-- keeps those edits honest: `private.refuse_change` refuses a change with a
-- message naming what is protected, `private.write_audit_log` records who
-- changed which row and how. The triggers that use them are defined with the
-- tables they guard (and in 60_audit_and_guards.sql for the ledger's own).

create table public.audit_log (
  id bigint generated always as identity primary key,
  at timestamptz not null default now(),
  -- auth.uid() when there is one (an admin's token)...
  actor_id uuid,
  -- ...and otherwise the role: the token's role (service_role) or the database role (postgres).
  actor_role text not null,
  table_name text not null,
  row_id text not null,
  action text not null check (action in ('insert', 'update', 'delete')),
  before jsonb,
  after jsonb,
  -- who by the database (session_user, which a session cannot set), next to
  -- the token's claims above, which a dashboard session can.
  db_role text not null default session_user
);

alter table public.audit_log enable row level security;

revoke all on table public.audit_log from anon, authenticated, service_role;

grant select on table public.audit_log to authenticated, service_role;

create policy "Admins can read the audit log"
  on public.audit_log for select to authenticated
  using ((select private.is_admin()));

-- Audited tables keyed by something other than `id` (currencies by `code`,
-- the bank settings by `key`) name their row by that key.
create function private.write_audit_log()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row jsonb := case when tg_op = 'DELETE' then to_jsonb(old) else to_jsonb(new) end;
begin
  insert into public.audit_log (actor_id, actor_role, table_name, row_id, action, before, after)
  values (
    auth.uid(),
    coalesce(auth.role(), session_user),
    tg_table_name,
    coalesce(v_row ->> 'id', v_row ->> 'code', v_row ->> 'key'),
    lower(tg_op),
    case when tg_op <> 'INSERT' then to_jsonb(old) end,
    case when tg_op <> 'DELETE' then to_jsonb(new) end
  );
  return null;
end;
$$;

create function private.refuse_change()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  raise exception using
    errcode = 'BK011',
    message = format('%s on %s is refused: %s', lower(tg_op), tg_table_name, tg_argv[0]);
end;
$$;

