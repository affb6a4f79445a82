CREATE TABLE `reconciliation_runs` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`triggered_by` varchar(16) NOT NULL,
	`status` enum('running','ok','mismatch','error') NOT NULL DEFAULT 'running',
	`window_start` datetime(3) NOT NULL,
	`window_end` datetime(3) NOT NULL,
	`events_seen` int NOT NULL DEFAULT 0,
	`events_repaired` int NOT NULL DEFAULT 0,
	`bookings_checked` int NOT NULL DEFAULT 0,
	`mismatch_count` int NOT NULL DEFAULT 0,
	`mismatches` json NOT NULL,
	`error` text,
	`request_id` varchar(128),
	`started_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	`finished_at` datetime(3),
	CONSTRAINT `reconciliation_runs_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
ALTER TABLE `outbox` ADD `enqueued_at` datetime(3);--> statement-breakpoint
ALTER TABLE `outbox` ADD `request_id` varchar(128);--> statement-breakpoint
CREATE INDEX `idx_reconciliation_runs_started` ON `reconciliation_runs` (`started_at`);--> statement-breakpoint
CREATE INDEX `idx_outbox_status_enqueued` ON `outbox` (`status`,`enqueued_at`);