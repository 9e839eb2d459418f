-- Puts the account checks back (not valid).
alter table public.accounts add constraint accounts_kind_check CHECK ((kind = ANY (ARRAY['checking'::text, 'savings'::text, 'system'::text]))) not valid;
alter table public.accounts add constraint accounts_nickname_check CHECK ((char_length(nickname) <= 64)) not valid;
alter table public.accounts add constraint accounts_overdraft_limit_check CHECK ((overdraft_limit >= 0)) not valid;
alter table public.accounts add constraint accounts_owner_matches_kind CHECK ((((kind = 'system'::text) = (owner_id IS NULL)) AND ((kind = 'system'::text) = (system_purpose IS NOT NULL)))) not valid;
alter table public.accounts add constraint accounts_status_check CHECK ((status = ANY (ARRAY['active'::text, 'frozen'::text, 'closed'::text]))) not valid;
alter table public.accounts add constraint accounts_system_purpose_check CHECK ((system_purpose ~ '^[a-z_]{1,32}$'::text)) not valid;
alter table public.accounts add constraint accounts_version_check CHECK ((version >= 0)) not valid;
alter table public.accounts add constraint accounts_account_number_check CHECK (((account_number ~ '^[0-9]{10}$'::text) AND (((account_number)::numeric % (97)::numeric) = (1)::numeric))) not valid;
alter table public.accounts add constraint accounts_held_minor_not_negative CHECK ((held_minor >= 0)) not valid;
