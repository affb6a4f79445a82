CREATE TABLE `email_deliveries` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`booking_id` bigint unsigned NOT NULL,
	`kind` enum('booking_confirmation') NOT NULL,
	`status` enum('pending','sending','sent','skipped','failed') NOT NULL DEFAULT 'pending',
	`message_id` varchar(255) NOT NULL,
	`recipient` varchar(254),
	`attempts` int NOT NULL DEFAULT 0,
	`lease_expires_at` datetime(3),
	`sent_at` datetime(3),
	`smtp_response` varchar(512),
	`skip_reason` varchar(255),
	`last_error` text,
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	`updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `email_deliveries_id` PRIMARY KEY(`id`),
	CONSTRAINT `uq_email_deliveries_booking_kind` UNIQUE(`booking_id`,`kind`)
);
--> statement-breakpoint
ALTER TABLE `email_deliveries` ADD CONSTRAINT `email_deliveries_booking_id_bookings_id_fk` FOREIGN KEY (`booking_id`) REFERENCES `bookings`(`id`) ON DELETE no action ON UPDATE no action;