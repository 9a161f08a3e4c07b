-- The conversation reads a guest's reservations by phone or e-mail on every message it answers,
-- and the per-guest hold limit counts them: without these, each read went through every
-- reservation ever made.
CREATE INDEX reservations_by_guest_phone ON reservations (guest_phone);
CREATE INDEX reservations_by_guest_email ON reservations (guest_email);
