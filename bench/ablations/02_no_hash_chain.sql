-- Ablation: the posting statement with a constant hash instead of the chained
-- sha256 (a copy of private.post_transfer_with_entries from supabase/schemas/40_transfers.sql
-- with only the hash expression replaced).
create or replace function private.post_transfer_with_entries(p_transfer_id uuid, p_kind text, p_from accounts, p_to accounts, p_amount_minor bigint, p_description text, p_initiated_by uuid, p_credit_pending boolean)
 RETURNS transfers
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
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
           '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
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
$function$

;
