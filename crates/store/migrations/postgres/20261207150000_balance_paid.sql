-- The owner records that the guest paid the balance (issue 19, defect 4): when and how. The
-- audit log keeps who did it.
ALTER TABLE reservations ADD COLUMN balance_paid_at TIMESTAMPTZ;
ALTER TABLE reservations ADD COLUMN balance_method TEXT
    CHECK (balance_method IS NULL OR balance_method IN ('cash', 'transfer', 'mercadopago'));
