-- Puts the foreign keys back (not valid: the ablation only needs them enforced again).
alter table public.entries add constraint entries_account_id_fkey foreign key (account_id) references public.accounts(id) not valid,
  add constraint entries_transfer_id_fkey foreign key (transfer_id) references public.transfers(id) not valid;
alter table public.transfers add constraint transfers_from_account_id_fkey foreign key (from_account_id) references public.accounts(id) not valid,
  add constraint transfers_to_account_id_fkey foreign key (to_account_id) references public.accounts(id) not valid;
