-- The ledger and the booking audit trail are append-only: corrections are new rows. The application
-- never updates or deletes them, and these triggers make the database refuse it too.
CREATE TRIGGER `trg_financial_ledger_no_update` BEFORE UPDATE ON `financial_ledger` FOR EACH ROW
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'financial_ledger is append-only: write a correcting entry instead';
--> statement-breakpoint
CREATE TRIGGER `trg_financial_ledger_no_delete` BEFORE DELETE ON `financial_ledger` FOR EACH ROW
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'financial_ledger is append-only: write a correcting entry instead';
--> statement-breakpoint
CREATE TRIGGER `trg_booking_transitions_no_update` BEFORE UPDATE ON `booking_transitions` FOR EACH ROW
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'booking_transitions is append-only';
