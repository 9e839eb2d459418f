-- Ablation: the floor of this design. One plpgsql function, no helper calls, no
-- request hash, no stored refusal: the currency read, the locking read and the
-- posting statement, minus what the earlier steps removed (use with --cumulative).
create or replace function private.transfer_funds(
  p_from_account_id uuid, p_to_account_id uuid, p_amount numeric, p_currency text,
  p_idempotency_key text, p_description text
) returns jsonb language plpgsql security definer set search_path = '' as $$
declare
  v_caller uuid := (current_setting('request.jwt.claims', true)::jsonb ->> 'sub')::uuid;
  v_currency public.currencies;
  v_amount bigint;
  v_row public.accounts; v_from public.accounts; v_to public.accounts;
  v_transfer_id uuid := gen_random_uuid();
  v_transfer public.transfers;
begin
  select * into v_currency from public.currencies where code = p_currency;
  v_amount := (p_amount * 100)::bigint;
  for v_row in select * from public.accounts where id in (p_from_account_id, p_to_account_id)
       and (id <> p_from_account_id or owner_id = v_caller) order by id for no key update loop
    if v_row.id = p_from_account_id then v_from := v_row; end if;
    if v_row.id = p_to_account_id then v_to := v_row; end if;
  end loop;
  if v_from.id is null or v_to.id is null or v_from.status <> 'active' or v_to.status <> 'active'
     or v_from.balance - v_amount < -v_from.overdraft_limit then
    raise exception 'refused';
  end if;
  with balances as (
    update public.accounts
       set balance = balance + case when id = v_to.id then v_amount else -v_amount end,
           version = version + 1, updated_at = now()
     where id in (v_from.id, v_to.id)
  ), posted as (
    insert into public.entries
      (transfer_id, account_id, amount, balance_after, account_version, description,
       counterparty_account_id, created_at, hash)
    values (v_transfer_id, v_from.id, -v_amount, v_from.balance - v_amount, v_from.version + 1, p_description, v_to.id, now(), '\x0000000000000000000000000000000000000000000000000000000000000000'),
           (v_transfer_id, v_to.id, v_amount, v_to.balance + v_amount, v_to.version + 1, p_description, v_from.id, now(), '\x0000000000000000000000000000000000000000000000000000000000000000')
  )
  insert into public.transfers (id, kind, from_account_id, to_account_id, amount, currency, description, initiated_by)
  values (v_transfer_id, 'transfer', v_from.id, v_to.id, v_amount, v_from.currency, p_description, v_caller)
  returning * into v_transfer;
  return to_jsonb(v_transfer);
end;
$$;
