-- Ablation: no idempotency record (the key is claimed by nothing: a rule removed, for its price).
create or replace function private.claim_idempotency_key(p_caller_id uuid, p_key text, p_request_hash bytea, p_transfer_id uuid)
returns boolean language plpgsql security invoker set search_path = '' as $$ begin return true; end; $$;
