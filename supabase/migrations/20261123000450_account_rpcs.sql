-- open_account and rename_account: what a customer may do to their accounts.
--
-- Why functions: customers hold no insert or update grant on accounts, so
-- PostgREST can never write a balance, an owner or a status for them. These
-- security definer functions (in `private`, behind invoker wrappers in
-- `public`) write exactly the columns a customer may choose: the currency and
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
