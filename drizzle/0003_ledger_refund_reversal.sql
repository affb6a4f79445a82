ALTER TABLE `financial_ledger` DROP INDEX `uq_ledger_refund_id`;--> statement-breakpoint
ALTER TABLE `financial_ledger` DROP CONSTRAINT `ck_ledger_movement_key`;--> statement-breakpoint
ALTER TABLE `financial_ledger` MODIFY COLUMN `entry_type` enum('charge','refund','refund_reversal') NOT NULL;--> statement-breakpoint
ALTER TABLE `financial_ledger` ADD CONSTRAINT `ck_ledger_movement_key` CHECK ((`financial_ledger`.`entry_type` = 'charge' AND `financial_ledger`.`stripe_refund_id` IS NULL AND `financial_ledger`.`movement_key` = CONCAT('charge:', `financial_ledger`.`stripe_payment_intent_id`))
       OR (`financial_ledger`.`entry_type` = 'refund' AND `financial_ledger`.`stripe_refund_id` IS NOT NULL AND `financial_ledger`.`movement_key` = CONCAT('refund:', `financial_ledger`.`stripe_refund_id`))
       OR (`financial_ledger`.`entry_type` = 'refund_reversal' AND `financial_ledger`.`stripe_refund_id` IS NOT NULL AND `financial_ledger`.`movement_key` = CONCAT('refund_reversal:', `financial_ledger`.`stripe_refund_id`)));--> statement-breakpoint
CREATE INDEX `idx_ledger_refund` ON `financial_ledger` (`stripe_refund_id`);