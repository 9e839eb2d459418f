SET local check_function_bodies = off;

CREATE OR REPLACE FUNCTION loans_private.lock_repayment_accounts (
  p_uid        uuid,
  p_account_id uuid,
  p_funding_id uuid,
  OUT          account public.accounts,
  OUT          funding public.accounts
)
  RETURNS record
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_row public.accounts;
begin
  for v_row in
    select a.* from public.accounts as a
     where a.id in (p_account_id, p_funding_id)
       and (a.id = p_funding_id or a.owner_id = p_uid)
     order by a.id
       for no key update
  loop
    if v_row.id = p_funding_id then
      funding := v_row;
    elsif v_row.deferred_credits then
      account := private.settle_account(v_row);
    else
      account := v_row;
    end if;
  end loop;
end;
$function$;
