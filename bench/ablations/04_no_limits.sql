-- Ablation: no per-user limits counter (a rule removed, for its price).
create or replace function private.count_money_movement(p_user_id uuid, p_currency text, p_counted_minor bigint default 0)
returns public.transfer_limits language plpgsql security invoker set search_path = '' as $$
begin return row(p_user_id, p_currency, current_date, p_counted_minor, now(), 1)::public.transfer_limits; end; $$;
