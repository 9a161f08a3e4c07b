-- The per-guest hold limit counts live holds by phone, or by e-mail for guests without one:
-- with only the phone indexed, that OR read every reservation on every hold.
CREATE INDEX reservations_holds_by_email ON reservations (guest_email) WHERE status = 'pre_reserved';
