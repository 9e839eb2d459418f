-- Reversals (refunds and staff reversals) and atomic batches of transfers.
--
-- A reversal is a new transfer of kind 'reversal' in the opposite direction
-- of a posted transfer, linked to it by a row of `transfer_reversals`; the
-- original is never edited. One function, private.reverse_transfer, serves
-- both callers: the receiver refunds what it received (refund_transfer, a
-- customer transfer only, counted in the rate limit) and staff reverse any
-- posted transfer but a loan's or a reversal (admin_reverse_transfer). The
-- reversals of a transfer never sum to more than it: every reversal locks
-- both accounts of the original (the same two rows, in id order) before it
-- sums the earlier reversals, so two reversals of one transfer run one after
-- the other, and the second sees the first (sql/checks/12).
-- A reversal of a reversal is refused (BK011): a reversal that went too far
-- is corrected by a new transfer, so a transfer's reversals are one level
-- deep and "reversed_amount" means one thing. Loan transfers are refused too
-- (BK011): a loan's disbursement, repayments and write-off move its
-- installments with them and are undone only through the loan functions.
-- Both accounts must be active (BK004), staff included: staff unfreeze an
-- account first, like a deposit. The reversal's sender needs the funds
-- (BK001) unless it is a system account (a withdrawal reversed).
--
-- A batch (transfer_funds_batch) posts up to 100 transfers of one caller in
-- one transaction, or none: one idempotency key for the batch; every item
-- validated first (BK009 naming `transfers.<index>.<field>`); one count per
-- currency in the rate-limit window and the day's outgoing total for the
-- whole batch; then every account the batch locks (the caller's senders and
-- the receivers that do not take deferred credits) locked once, in id
-- order, before the first posting, so two batches cannot deadlock with each
-- other or with single transfers. Each item is checked by the same
-- private.transfer_refusal as transfer_funds against the balances the items
-- before it left, and posted by private.post_transfer /
-- post_transfer_deferred. The first refusal rolls every posting of the batch
-- back (a subtransaction) and is stored under the key with the item's
-- SQLSTATE and `details` = {"index": i, "details": the item's details}.
-- A success writes `transfer_batches` and one `transfer_batch_items` row per
-- item (sql/checks/13: every recorded batch has all its items); its
-- idempotency record points at the first item's transfer, so a replay finds
-- the batch from it and answers the same body, rebuilt from the rows.
--
-- The three tables are append-only and written only by these functions, like
-- transfers; they are not copied to the audit log, for the reason postings
-- are not (60_audit_and_guards.sql): the rows themselves are the record.

create table public.transfer_reversals (
  reversal_transfer_id uuid primary key references public.transfers (id),
  original_transfer_id uuid not null references public.transfers (id),
  -- The reversal's amount, copied so the sum over one original needs no join.
  amount bigint not null check (amount > 0),
  reason text check (char_length(reason) <= 280),
  -- 'refund' (the original's receiver) or 'reversal' (staff).
  kind text not null check (kind in ('refund', 'reversal')),
  created_at timestamptz not null default now(),
  constraint transfer_reversals_not_of_itself check (reversal_transfer_id <> original_transfer_id)
);

-- The sum over one original, and the policy's filter.
create index transfer_reversals_original_transfer_id_idx
  on public.transfer_reversals (original_transfer_id);

alter table public.transfer_reversals enable row level security;

revoke all on table public.transfer_reversals from anon, authenticated, service_role;

grant select on table public.transfer_reversals to authenticated, service_role;

-- A reversal moves money between the original's two accounts, so its parties
-- are the original's: whoever can read the original can read the link.
create policy "Parties can read their transfers' reversals and admins every reversal"
  on public.transfer_reversals for select to authenticated
  using (
    exists (select from public.transfers as t where t.id = original_transfer_id)
    or (select private.is_admin())
  );

create table public.transfer_batches (
  id uuid primary key,
  -- auth.uid() of the customer who sent the batch.
  initiated_by uuid not null references public.profiles (id),
  item_count smallint not null check (item_count between 1 and 100),
  created_at timestamptz not null default now()
);

create index transfer_batches_initiated_by_idx on public.transfer_batches (initiated_by);

alter table public.transfer_batches enable row level security;

revoke all on table public.transfer_batches from anon, authenticated, service_role;

grant select on table public.transfer_batches to authenticated, service_role;

create policy "Senders can read their batches and admins every batch"
  on public.transfer_batches for select to authenticated
  using (initiated_by = (select auth.uid()) or (select private.is_admin()));

create table public.transfer_batch_items (
  transfer_id uuid primary key references public.transfers (id),
  batch_id uuid not null references public.transfer_batches (id),
  index smallint not null check (index between 0 and 99),
  constraint transfer_batch_items_one_per_index unique (batch_id, index)
);

alter table public.transfer_batch_items enable row level security;

revoke all on table public.transfer_batch_items from anon, authenticated, service_role;

grant select on table public.transfer_batch_items to authenticated, service_role;

create policy "Senders can read their batches' items and admins every item"
  on public.transfer_batch_items for select to authenticated
  using (
    batch_id in (select b.id from public.transfer_batches as b
                  where b.initiated_by = (select auth.uid()))
    or (select private.is_admin())
  );

-- Guards: append-only for every role, written only by the ledger's functions.
create trigger transfer_reversals_are_append_only
  before update or delete on public.transfer_reversals
  for each row execute function private.refuse_change('reversals are append-only');

create trigger transfer_reversals_cannot_be_truncated
  before truncate on public.transfer_reversals
  for each statement execute function private.refuse_change('reversals are append-only');

create trigger transfer_reversals_come_from_the_ledger
  before insert on public.transfer_reversals
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change(
    'reversals are written only by public.refund_transfer and public.admin_reverse_transfer');

create trigger transfer_batches_are_append_only
  before update or delete on public.transfer_batches
  for each row execute function private.refuse_change('batches are append-only');

create trigger transfer_batches_cannot_be_truncated
  before truncate on public.transfer_batches
  for each statement execute function private.refuse_change('batches are append-only');

create trigger transfer_batches_come_from_the_ledger
  before insert on public.transfer_batches
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change('batches are written only by public.transfer_funds_batch');

create trigger transfer_batch_items_are_append_only
  before update or delete on public.transfer_batch_items
  for each row execute function private.refuse_change('batch items are append-only');

create trigger transfer_batch_items_cannot_be_truncated
  before truncate on public.transfer_batch_items
  for each statement execute function private.refuse_change('batch items are append-only');

create trigger transfer_batch_items_come_from_the_ledger
  before insert on public.transfer_batch_items
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change('batch items are written only by public.transfer_funds_batch');

-- Reversals -------------------------------------------------------------------

-- The first rule a reversal breaks, as {sqlstate, message, details}, or null.
-- `p_from` is the reversal's sender (the original's receiver) and `p_to` its
-- receiver, both locked; `p_reversed_minor` is what earlier reversals took.
create function private.reversal_refusal(
  p_staff boolean,
  p_original public.transfers,
  p_from public.accounts,
  p_to public.accounts,
  p_amount_minor bigint,
  p_reversed_minor bigint
)
returns text[]
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_left bigint := p_original.amount - p_reversed_minor;
begin
  return case
    when p_original.kind like 'loan\_%' then
      array['BK011', format('transfer (id=%s) is a %s; loans are undone only through the loan functions',
             p_original.id, p_original.kind), p_original.kind]
    when p_original.kind = 'reversal' then
      array['BK011', format('transfer (id=%s) is itself a reversal and cannot be reversed; '
             'make a new transfer instead', p_original.id), p_original.kind]
    when not p_staff and p_original.kind <> 'transfer' then
      array['BK011', format('transfer (id=%s) is a %s; only staff reverse it', p_original.id,
             p_original.kind), p_original.kind]
    when v_left <= 0 then
      array['BK011', format('transfer (id=%s) is already reversed in full', p_original.id),
            'reversed']
    when p_amount_minor > v_left then
      array['BK007', format('amount (%s) is more than the %s of transfer (id=%s) not yet reversed',
             private.format_amount(p_amount_minor, p_original.currency),
             private.format_amount(v_left, p_original.currency), p_original.id),
            'reversible_amount']
    when p_from.status <> 'active' then
      array['BK004', format('account (id=%s) is %s', p_from.id, p_from.status), p_from.status]
    when p_to.status <> 'active' then
      array['BK004', format('account (id=%s) is %s', p_to.id, p_to.status), p_to.status]
    when p_from.kind <> 'system'
         and p_from.balance - p_from.held_minor - p_amount_minor < -p_from.overdraft_limit then
      array['BK001', format('account (id=%s) has insufficient funds: %s available, %s requested',
             p_from.id, private.format_amount(
               p_from.balance + p_from.overdraft_limit - p_from.held_minor, p_original.currency),
             private.format_amount(p_amount_minor, p_original.currency))]
  end;
end;
$$;

-- A reversal's reply: the transfer with the id of the transfer it reverses
-- (or a stored refusal as it is).
create function private.reversal_reply(p_result jsonb)
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select case when p_result ? 'id' then
    p_result || jsonb_build_object('original_transfer_id',
      (select r.original_transfer_id from public.transfer_reversals as r
        where r.reversal_transfer_id = (p_result ->> 'id')::uuid))
  else p_result end
$$;

-- Validate a reversal's request and answer the transfer it reverses, or
-- BK005. A customer sees only transfers into their own accounts: any other is
-- "not found", whether it exists or not.
create function private.reversal_original(
  p_staff boolean, p_caller uuid, p_transfer_id uuid, p_reason text, p_idempotency_key text
)
returns public.transfers
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_original public.transfers;
begin
  perform private.require_idempotency_key(p_idempotency_key);
  if p_transfer_id is null then
    perform private.raise_invalid('p_transfer_id', 'transfer is required');
  end if;
  if char_length(p_reason) not between 1 and 280 then
    perform private.raise_invalid('p_reason', 'reason must be 1 to 280 characters');
  end if;
  select t.* into v_original from public.transfers as t
   where t.id = p_transfer_id
     and (p_staff or t.to_account_id in (select a.id from public.accounts as a
                                          where a.owner_id = p_caller));
  if v_original.id is null then
    raise exception using errcode = 'BK005',
      message = format('transfer (id=%s) not found', p_transfer_id);
  end if;
  return v_original;
end;
$$;

-- A reversal's accounts as {sender, receiver}: the original's receiver and
-- sender, both locked in id order; the sender's pending credits are settled
-- and its expired holds released (what they reserved is spendable again).
create function private.lock_reversal_accounts(p_original public.transfers)
returns public.accounts[]
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_row public.accounts;
  v_from public.accounts;
  v_to public.accounts;
begin
  for v_row in
    select * from public.accounts
     where id in (p_original.from_account_id, p_original.to_account_id)
     order by id
       for no key update
  loop
    if v_row.id = p_original.to_account_id then
      if v_row.deferred_credits then
        v_row := private.settle_account(v_row);
      end if;
      if v_row.held_minor > 0 then
        v_row := private.release_expired_holds(v_row);
      end if;
      v_from := v_row;
    else
      v_to := v_row;
    end if;
  end loop;
  return array[v_from, v_to];
end;
$$;

-- Post the reversal of `p_amount` and record what it reverses; answers the
-- reversal's reply.
create function private.post_reversal(
  p_staff boolean,
  p_transfer_id uuid,
  p_original_id uuid,
  p_from public.accounts,
  p_to public.accounts,
  p_amount bigint,
  p_reason text
)
returns jsonb
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_kind text := case when p_staff then 'reversal' else 'refund' end;
  v_transfer public.transfers;
begin
  v_transfer := private.post_transfer(
    p_transfer_id, 'reversal', p_from, p_to, p_amount,
    coalesce(p_reason, format('%s of transfer %s', v_kind, p_original_id)), auth.uid());
  insert into public.transfer_reversals
    (reversal_transfer_id, original_transfer_id, amount, reason, kind)
  values
    (p_transfer_id, p_original_id, p_amount, p_reason, v_kind);
  return to_jsonb(v_transfer)
    || jsonb_build_object('original_transfer_id', p_original_id, 'replayed', false);
end;
$$;

-- Reverse `p_amount` (null: all that is left) of a posted transfer. `p_action`
-- is 'refund_transfer' (the caller owns the original's receiving account) or
-- 'admin_reverse_transfer' (staff). Validation and "not found" are raised;
-- every other refusal is stored under the key like transfer_funds'.
create function private.reverse_transfer(
  p_action text,
  p_transfer_id uuid,
  p_amount numeric,
  p_reason text,
  p_idempotency_key text
)
returns jsonb
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_staff boolean := p_action = 'admin_reverse_transfer';
  v_caller uuid;
  v_original public.transfers;
  v_exponent smallint;
  v_amount bigint;
  v_reversed bigint;
  v_hash bytea;
  v_transfer_id uuid := gen_random_uuid();
  v_accounts public.accounts[];
  v_from public.accounts;
  v_to public.accounts;
  v_refusal text[];
begin
  if v_staff then
    perform private.require_staff(p_action);
    v_caller := coalesce(auth.uid(), '00000000-0000-0000-0000-000000000000'::uuid);
  else
    v_caller := private.require_user(p_action);
  end if;
  v_original := private.reversal_original(
    v_staff, v_caller, p_transfer_id, p_reason, p_idempotency_key);
  select c.exponent into v_exponent from public.currencies as c where c.code = v_original.currency;
  if p_amount is not null then
    v_amount := private.minor_units(p_amount, v_exponent, 'p_amount', v_original.currency);
  end if;

  v_hash := sha256(convert_to(jsonb_build_array(
    p_action, p_transfer_id, v_amount, p_reason)::text, 'UTF8'));
  if not private.claim_idempotency_key(v_caller, p_idempotency_key, v_hash, v_transfer_id) then
    return private.reversal_reply(
      private.replay_idempotency_key(v_caller, p_idempotency_key, v_hash));
  end if;
  if not v_staff then
    perform private.count_money_movement(v_caller, v_original.currency, 0);
  end if;

  -- Every reversal of this transfer takes the same two locks, so the sum
  -- below is never stale.
  v_accounts := private.lock_reversal_accounts(v_original);
  v_from := v_accounts[1];
  v_to := v_accounts[2];
  select coalesce(sum(r.amount), 0) into v_reversed
    from public.transfer_reversals as r where r.original_transfer_id = p_transfer_id;
  v_amount := coalesce(v_amount, greatest(v_original.amount - v_reversed, 0));

  v_refusal := private.reversal_refusal(v_staff, v_original, v_from, v_to, v_amount, v_reversed);
  if v_refusal is not null then
    return private.refuse(v_caller, p_idempotency_key, v_refusal[1], v_refusal[2], v_refusal[3]);
  end if;

  return private.post_reversal(
    v_staff, v_transfer_id, p_transfer_id, v_from, v_to, v_amount, p_reason);
end;
$$;

create function private.refund_transfer(
  p_transfer_id uuid, p_amount numeric, p_reason text, p_idempotency_key text
)
returns jsonb
language sql
security definer
set search_path = ''
as $$
  select private.reverse_transfer('refund_transfer', p_transfer_id, p_amount, p_reason,
                                  p_idempotency_key)
$$;

create function private.admin_reverse_transfer(
  p_transfer_id uuid, p_amount numeric, p_reason text, p_idempotency_key text
)
returns jsonb
language sql
security definer
set search_path = ''
as $$
  select private.reverse_transfer('admin_reverse_transfer', p_transfer_id, p_amount, p_reason,
                                  p_idempotency_key)
$$;

revoke execute on function
  private.reversal_refusal(boolean, public.transfers, public.accounts, public.accounts, bigint, bigint),
  private.reversal_reply(jsonb),
  private.reversal_original(boolean, uuid, uuid, text, text),
  private.lock_reversal_accounts(public.transfers),
  private.post_reversal(boolean, uuid, uuid, public.accounts, public.accounts, bigint, text),
  private.reverse_transfer(text, uuid, numeric, text, text),
  private.refund_transfer(uuid, numeric, text, text),
  private.admin_reverse_transfer(uuid, numeric, text, text)
from public;

grant execute on function private.refund_transfer(uuid, numeric, text, text) to authenticated;

grant execute on function private.admin_reverse_transfer(uuid, numeric, text, text)
  to authenticated, service_role;

create function public.refund_transfer(
  p_transfer_id uuid,
  p_idempotency_key text,
  p_amount numeric default null,
  p_reason text default null
)
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.refund_transfer(p_transfer_id, p_amount, p_reason, p_idempotency_key)
$$;

create function public.admin_reverse_transfer(
  p_transfer_id uuid,
  p_idempotency_key text,
  p_amount numeric default null,
  p_reason text default null
)
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.admin_reverse_transfer(p_transfer_id, p_amount, p_reason, p_idempotency_key)
$$;

revoke execute on function
  public.refund_transfer(uuid, text, numeric, text),
  public.admin_reverse_transfer(uuid, text, numeric, text)
from public, anon, authenticated, service_role;

grant execute on function public.refund_transfer(uuid, text, numeric, text) to authenticated;

grant execute on function public.admin_reverse_transfer(uuid, text, numeric, text)
  to authenticated, service_role;

-- Batches ---------------------------------------------------------------------

-- A batch's reply, rebuilt from its rows (so a replay cannot differ from the
-- first answer): {id, created_at, transfers: [the transfers in item order]}.
create function private.batch_reply(p_batch_id uuid, p_replayed boolean)
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select jsonb_build_object(
           'id', b.id, 'created_at', b.created_at, 'replayed', p_replayed,
           'transfers', (select jsonb_agg(to_jsonb(t) order by i.index)
                           from public.transfer_batch_items as i
                           join public.transfers as t on t.id = i.transfer_id
                          where i.batch_id = b.id))
    from public.transfer_batches as b
   where b.id = p_batch_id
$$;

-- Raise BK009 for item `p_index`'s `p_field`: details `p_transfers.<index>.<field>`,
-- which the functions answer as `transfers.<index>.<field>`, the path their
-- own validation names.
create function private.raise_invalid_item(p_index integer, p_field text, p_message text)
returns void
language plpgsql
security invoker
set search_path = ''
as $$
begin
  perform private.raise_invalid(format('p_transfers.%s.%s', p_index, p_field),
                                format('transfers[%s]: %s', p_index, p_message));
end;
$$;

-- A batch's items in order, validated field by field (the first bad field
-- raises BK009), as parallel arrays with each item's currency row and a new
-- transfer id.
create function private.batch_items(
  p_transfers jsonb,
  out from_ids uuid[],
  out to_ids uuid[],
  out amounts numeric[],
  out minors bigint[],
  out codes text[],
  out descriptions text[],
  out currencies public.currencies[],
  out transfer_ids uuid[]
)
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_item jsonb;
  v_text text;
  v_currency public.currencies;
begin
  if p_transfers is null or jsonb_typeof(p_transfers) <> 'array'
     or jsonb_array_length(p_transfers) not between 1 and 100 then
    perform private.raise_invalid('p_transfers', 'transfers must be a list of 1 to 100 transfers');
  end if;
  select '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}'
    into from_ids, to_ids, amounts, minors, codes, descriptions, currencies, transfer_ids;
  for i in 0 .. jsonb_array_length(p_transfers) - 1 loop
    v_item := p_transfers -> i;
    if jsonb_typeof(v_item) <> 'object' then
      perform private.raise_invalid_item(i, 'body', 'each transfer must be an object');
    end if;
    foreach v_text in array array['from_account_id', 'to_account_id'] loop
      if jsonb_typeof(v_item -> v_text) is distinct from 'string'
         or (v_item ->> v_text) !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
        perform private.raise_invalid_item(i, v_text, format('%s must be an account id', v_text));
      end if;
    end loop;
    select * into v_currency from public.currencies where code = v_item ->> 'currency';
    if v_currency.code is null then
      perform private.raise_invalid_item(i, 'currency',
        format('currency (%s) is not supported', coalesce(v_item ->> 'currency', 'null')));
    end if;
    v_text := v_item ->> 'amount';
    if coalesce(jsonb_typeof(v_item -> 'amount'), 'missing') not in ('string', 'number')
       or v_text !~ '^[0-9]{1,30}(\.[0-9]{1,30})?$' then
      perform private.raise_invalid_item(i, 'amount', 'amount must be a decimal such as "12.34"');
    end if;
    if jsonb_typeof(v_item -> 'description') not in ('string', 'null')
       or char_length(v_item ->> 'description') > 280 then
      perform private.raise_invalid_item(i, 'description',
        'description must be text of at most 280 characters');
    end if;
    from_ids := from_ids || (v_item ->> 'from_account_id')::uuid;
    to_ids := to_ids || (v_item ->> 'to_account_id')::uuid;
    amounts := amounts || v_text::numeric;
    minors := minors || private.minor_units(
      v_text::numeric, v_currency.exponent, format('p_transfers.%s.amount', i), v_currency.code);
    codes := codes || v_currency.code;
    descriptions := descriptions || (v_item ->> 'description');
    currencies := currencies || v_currency;
    transfer_ids := transfer_ids || gen_random_uuid();
  end loop;
end;
$$;

-- One entry per currency of a batch, in the order its items first name them:
-- the currency's row and what the batch counts towards the day's total. An
-- amount over the per-transfer limit is refused by that limit, so it is not
-- counted (as in transfer_funds).
create function private.batch_currencies(
  p_currencies public.currencies[],
  p_minors bigint[],
  out codes text[],
  out currency_rows public.currencies[],
  out counted numeric[]
)
language plpgsql
immutable
security invoker
set search_path = ''
as $$
declare
  v_c integer;
begin
  select '{}', '{}', '{}' into codes, currency_rows, counted;
  for i in 1 .. cardinality(p_minors) loop
    v_c := array_position(codes, (p_currencies[i]).code);
    if v_c is null then
      codes := codes || (p_currencies[i]).code;
      currency_rows := currency_rows || p_currencies[i];
      counted := counted || 0::numeric;
      v_c := cardinality(codes);
    end if;
    if p_minors[i] <= (p_currencies[i]).max_transfer_minor then
      counted[v_c] := counted[v_c] + p_minors[i];
    end if;
  end loop;
end;
$$;

-- Every row a batch locks, once, in id order: the caller's senders and the
-- receivers that do not take deferred credits. Answers their ids.
create function private.lock_batch_accounts(p_caller uuid, p_from_ids uuid[], p_to_ids uuid[])
returns uuid[]
language sql
security invoker
set search_path = ''
as $$
  select coalesce(array_agg(a.id order by a.id), '{}')
    from (select a.id from public.accounts as a
           where a.id = any (p_from_ids || p_to_ids)
             and ((a.id = any (p_from_ids) and a.owner_id = p_caller)
                  or (a.id = any (p_to_ids) and not a.deferred_credits))
           order by a.id
             for no key update) as a
$$;

-- Post a batch's items in order, its accounts locked (`p_locked`), in one
-- subtransaction: the first item a rule refuses undoes every posting before
-- it. Answers that refusal as {code, message, details} for private.refuse, or
-- null when every item is posted. Any other error is raised as it is.
create function private.post_batch_items(
  p_caller uuid,
  p_from_ids uuid[],
  p_to_ids uuid[],
  p_amounts numeric[],
  p_minors bigint[],
  p_codes text[],
  p_descriptions text[],
  p_transfer_ids uuid[],
  p_currency_codes text[],
  p_currency_rows public.currencies[],
  p_limit_rows public.transfer_limits[],
  p_locked uuid[]
)
returns jsonb
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_from public.accounts;
  v_to public.accounts;
  v_c integer;
  v_refusal text[];
  v_index integer;
  v_code text;
  v_detail text;
begin
  for i in 1 .. cardinality(p_from_ids) loop
    select * into v_from from public.accounts
     where id = p_from_ids[i] and id = any (p_locked) and owner_id = p_caller;
    if v_from.deferred_credits then
      v_from := private.settle_account(v_from);
    end if;
    if v_from.held_minor > 0 then  -- what expired holds reserved is spendable again
      v_from := private.release_expired_holds(v_from);
    end if;
    select * into v_to from public.accounts where id = p_to_ids[i];
    v_c := array_position(p_currency_codes, p_codes[i]);
    v_refusal := private.transfer_refusal(
      p_from_ids[i], p_to_ids[i], v_from, v_to, p_amounts[i], p_minors[i],
      p_currency_rows[v_c], p_limit_rows[v_c]);
    if v_refusal is not null then
      v_index := i - 1;
      raise exception using errcode = v_refusal[1], message = v_refusal[2],
        detail = coalesce(v_refusal[3], '');
    end if;
    if v_to.id = any (p_locked) then
      perform private.post_transfer(p_transfer_ids[i], 'transfer', v_from, v_to, p_minors[i],
                                    p_descriptions[i], p_caller);
    else
      perform private.post_transfer_deferred(p_transfer_ids[i], 'transfer', v_from, v_to,
                                             p_minors[i], p_descriptions[i], p_caller);
    end if;
  end loop;
  return null;
exception when sqlstate 'BK001' or sqlstate 'BK002' or sqlstate 'BK003' or sqlstate 'BK004'
                or sqlstate 'BK005' or sqlstate 'BK007' then
  if v_index is null then
    raise;  -- not one of the refusals above: never swallowed
  end if;
  get stacked diagnostics v_code = returned_sqlstate, v_detail = pg_exception_detail;
  return jsonb_build_object(
    'code', v_code, 'message', format('transfers[%s]: %s', v_index, sqlerrm),
    'details', jsonb_build_object('index', v_index, 'details', nullif(v_detail, '')));
end;
$$;

-- The answer to a batch whose key is claimed already: the batch that request
-- posted, or what replay_idempotency_key answers (a stored refusal, or BK006
-- raised for a different request).
create function private.batch_replay(p_caller uuid, p_idempotency_key text, p_hash bytea)
returns jsonb
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_replay jsonb := private.replay_idempotency_key(p_caller, p_idempotency_key, p_hash);
begin
  if v_replay ? 'id' then
    return private.batch_reply(
      (select i.batch_id from public.transfer_batch_items as i
        where i.transfer_id = (v_replay ->> 'id')::uuid), true);
  end if;
  return v_replay;
end;
$$;

-- Give back what a refused batch counted towards each currency's day's total.
create function private.uncount_batch(p_caller uuid, p_currency_codes text[], p_counted numeric[])
returns void
language plpgsql
security invoker
set search_path = ''
as $$
begin
  for c in 1 .. cardinality(p_currency_codes) loop
    update public.transfer_limits
       set outgoing_minor = greatest(outgoing_minor - least(p_counted[c], 9223372036854775807)::bigint, 0)
     where user_id = p_caller and currency = p_currency_codes[c];
  end loop;
end;
$$;

create function private.transfer_funds_batch(p_transfers jsonb, p_idempotency_key text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_caller uuid := private.require_user('transfer_funds_batch');
  v_from_ids uuid[];
  v_to_ids uuid[];
  v_amounts numeric[];
  v_minors bigint[];
  v_codes text[];
  v_descriptions text[];
  v_currencies public.currencies[];
  v_transfer_ids uuid[];
  -- One entry per currency of the batch: its code, its row, the limits row
  -- after the count, and what the batch counted towards the day's total.
  v_currency_codes text[];
  v_currency_rows public.currencies[];
  v_limit_rows public.transfer_limits[] := '{}';
  v_counted numeric[];
  v_hash bytea;
  v_batch_id uuid := gen_random_uuid();
  v_locked uuid[];
  v_refusal jsonb;
begin
  perform private.require_idempotency_key(p_idempotency_key);
  select * into v_from_ids, v_to_ids, v_amounts, v_minors, v_codes, v_descriptions, v_currencies,
                v_transfer_ids
    from private.batch_items(p_transfers);
  select * into v_currency_codes, v_currency_rows, v_counted
    from private.batch_currencies(v_currencies, v_minors);

  v_hash := sha256(convert_to(jsonb_build_array(
    'transfer_funds_batch', v_from_ids, v_to_ids, v_minors, v_codes, v_descriptions
  )::text, 'UTF8'));
  if not private.claim_idempotency_key(v_caller, p_idempotency_key, v_hash, v_transfer_ids[1]) then
    return private.batch_replay(v_caller, p_idempotency_key, v_hash);
  end if;

  -- One call in each currency's rate-limit window, the batch's sum towards
  -- its day's total (saturating like transfer_funds').
  for c in 1 .. cardinality(v_currency_codes) loop
    v_limit_rows := v_limit_rows || private.count_money_movement(
      v_caller, v_currency_codes[c], least(v_counted[c], 9223372036854775807)::bigint);
  end loop;

  v_locked := private.lock_batch_accounts(v_caller, v_from_ids, v_to_ids);
  v_refusal := private.post_batch_items(
    v_caller, v_from_ids, v_to_ids, v_amounts, v_minors, v_codes, v_descriptions, v_transfer_ids,
    v_currency_codes, v_currency_rows, v_limit_rows, v_locked);
  if v_refusal is not null then
    perform private.uncount_batch(v_caller, v_currency_codes, v_counted);
    return private.refuse(v_caller, p_idempotency_key, v_refusal ->> 'code',
                          v_refusal ->> 'message', (v_refusal -> 'details')::text);
  end if;

  insert into public.transfer_batches (id, initiated_by, item_count)
  values (v_batch_id, v_caller, cardinality(v_transfer_ids));
  insert into public.transfer_batch_items (transfer_id, batch_id, index)
  select t.id, v_batch_id, t.n - 1
    from unnest(v_transfer_ids) with ordinality as t (id, n);
  return private.batch_reply(v_batch_id, false);
end;
$$;

revoke execute on function
  private.batch_reply(uuid, boolean),
  private.raise_invalid_item(integer, text, text),
  private.batch_items(jsonb),
  private.batch_currencies(public.currencies[], bigint[]),
  private.lock_batch_accounts(uuid, uuid[], uuid[]),
  private.post_batch_items(uuid, uuid[], uuid[], numeric[], bigint[], text[], text[], uuid[],
                           text[], public.currencies[], public.transfer_limits[], uuid[]),
  private.batch_replay(uuid, text, bytea),
  private.uncount_batch(uuid, text[], numeric[]),
  private.transfer_funds_batch(jsonb, text)
from public;

grant execute on function private.transfer_funds_batch(jsonb, text) to authenticated;

-- The RPC PostgREST exposes: a thin invoker wrapper, like transfer_funds.
create function public.transfer_funds_batch(p_transfers jsonb, p_idempotency_key text)
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.transfer_funds_batch(p_transfers, p_idempotency_key)
$$;

revoke execute on function public.transfer_funds_batch(jsonb, text)
  from public, anon, authenticated, service_role;

grant execute on function public.transfer_funds_batch(jsonb, text) to authenticated;
