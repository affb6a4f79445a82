CREATE TABLE `users` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`email` varchar(254) NOT NULL,
	`password_hash` varchar(255) NOT NULL,
	`name` varchar(100) NOT NULL,
	`role` enum('traveller','admin') NOT NULL DEFAULT 'traveller',
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	`updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `users_id` PRIMARY KEY(`id`),
	CONSTRAINT `uq_users_email` UNIQUE(`email`)
);
--> statement-breakpoint
CREATE TABLE `refresh_tokens` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`user_id` bigint unsigned NOT NULL,
	`family_id` char(36) NOT NULL,
	`token_hash` binary(32) NOT NULL,
	`parent_id` bigint unsigned,
	`rotated_at` datetime(3),
	`revoked_at` datetime(3),
	`revoked_reason` varchar(32),
	`idle_expires_at` datetime(3) NOT NULL,
	`absolute_expires_at` datetime(3) NOT NULL,
	`generation` int NOT NULL DEFAULT 0,
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `refresh_tokens_id` PRIMARY KEY(`id`),
	CONSTRAINT `uq_refresh_tokens_token_hash` UNIQUE(`token_hash`)
);
--> statement-breakpoint
CREATE TABLE `airports` (
	`iata` char(3) NOT NULL,
	`name` varchar(128) NOT NULL,
	`city` varchar(64) NOT NULL,
	`country` char(2) NOT NULL,
	`time_zone` varchar(64) NOT NULL,
	CONSTRAINT `airports_iata` PRIMARY KEY(`iata`)
);
--> statement-breakpoint
CREATE TABLE `flights` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`flight_number` varchar(8) NOT NULL,
	`origin` char(3) NOT NULL,
	`destination` char(3) NOT NULL,
	`departure_at` datetime(3) NOT NULL,
	`arrival_at` datetime(3) NOT NULL,
	`price_minor` bigint unsigned NOT NULL,
	`currency` char(3) NOT NULL,
	`seats_total` int NOT NULL,
	`seats_available` int NOT NULL,
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	`updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `flights_id` PRIMARY KEY(`id`),
	CONSTRAINT `uq_flights_number_departure` UNIQUE(`flight_number`,`departure_at`),
	CONSTRAINT `ck_flights_seats_range` CHECK(`flights`.`seats_available` >= 0 AND `flights`.`seats_available` <= `flights`.`seats_total`),
	CONSTRAINT `ck_flights_arrival_after_departure` CHECK(`flights`.`arrival_at` > `flights`.`departure_at`)
);
--> statement-breakpoint
CREATE TABLE `bookings` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`user_id` bigint unsigned NOT NULL,
	`flight_id` bigint unsigned NOT NULL,
	`passenger_count` int NOT NULL,
	`total_minor` bigint unsigned NOT NULL,
	`currency` char(3) NOT NULL,
	`status` enum('pending_payment','confirmed','failed','expired','cancelled','refund_pending','refunded') NOT NULL DEFAULT 'pending_payment',
	`payment_status` enum('unpaid','processing','paid','partially_refunded','refunded','failed') NOT NULL DEFAULT 'unpaid',
	`seats_held` int NOT NULL,
	`hold_expires_at` datetime(3),
	`stripe_checkout_session_id` varchar(255),
	`stripe_checkout_session_expires_at` datetime(3),
	`stripe_payment_intent_id` varchar(255),
	`needs_attention` boolean NOT NULL DEFAULT false,
	`attention_reason` varchar(255),
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	`updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `bookings_id` PRIMARY KEY(`id`),
	CONSTRAINT `uq_bookings_checkout_session` UNIQUE(`stripe_checkout_session_id`),
	CONSTRAINT `uq_bookings_payment_intent` UNIQUE(`stripe_payment_intent_id`),
	CONSTRAINT `ck_bookings_passengers` CHECK(`bookings`.`passenger_count` BETWEEN 1 AND 9),
	CONSTRAINT `ck_bookings_seats_held` CHECK(`bookings`.`seats_held` >= 0 AND `bookings`.`seats_held` <= `bookings`.`passenger_count`)
);
--> statement-breakpoint
CREATE TABLE `booking_passengers` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`booking_id` bigint unsigned NOT NULL,
	`position` int NOT NULL,
	`first_name` varchar(64) NOT NULL,
	`last_name` varchar(64) NOT NULL,
	CONSTRAINT `booking_passengers_id` PRIMARY KEY(`id`),
	CONSTRAINT `uq_booking_passengers_position` UNIQUE(`booking_id`,`position`)
);
--> statement-breakpoint
CREATE TABLE `booking_transitions` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`booking_id` bigint unsigned NOT NULL,
	`from_status` enum('pending_payment','confirmed','failed','expired','cancelled','refund_pending','refunded'),
	`to_status` enum('pending_payment','confirmed','failed','expired','cancelled','refund_pending','refunded') NOT NULL,
	`reason` varchar(255) NOT NULL,
	`actor` varchar(128) NOT NULL,
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `booking_transitions_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `payments` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`booking_id` bigint unsigned NOT NULL,
	`stripe_checkout_session_id` varchar(255) NOT NULL,
	`stripe_payment_intent_id` varchar(255),
	`amount_minor` bigint unsigned NOT NULL,
	`currency` char(3) NOT NULL,
	`status` enum('open','processing','succeeded','failed','expired') NOT NULL DEFAULT 'open',
	`expires_at` datetime(3) NOT NULL,
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	`updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `payments_id` PRIMARY KEY(`id`),
	CONSTRAINT `uq_payments_checkout_session` UNIQUE(`stripe_checkout_session_id`)
);
--> statement-breakpoint
CREATE TABLE `financial_ledger` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`entry_type` enum('charge','refund') NOT NULL,
	`movement_key` varchar(300) NOT NULL,
	`booking_id` bigint unsigned NOT NULL,
	`user_id` bigint unsigned NOT NULL,
	`amount_minor` bigint unsigned NOT NULL,
	`currency` char(3) NOT NULL,
	`stripe_payment_intent_id` varchar(255) NOT NULL,
	`stripe_charge_id` varchar(255),
	`stripe_refund_id` varchar(255),
	`stripe_event_id` varchar(255) NOT NULL,
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `financial_ledger_id` PRIMARY KEY(`id`),
	CONSTRAINT `uq_ledger_movement_key` UNIQUE(`movement_key`),
	CONSTRAINT `uq_ledger_refund_id` UNIQUE(`stripe_refund_id`),
	CONSTRAINT `ck_ledger_movement_key` CHECK((`financial_ledger`.`entry_type` = 'charge' AND `financial_ledger`.`stripe_refund_id` IS NULL AND `financial_ledger`.`movement_key` = CONCAT('charge:', `financial_ledger`.`stripe_payment_intent_id`))
       OR (`financial_ledger`.`entry_type` = 'refund' AND `financial_ledger`.`stripe_refund_id` IS NOT NULL AND `financial_ledger`.`movement_key` = CONCAT('refund:', `financial_ledger`.`stripe_refund_id`))),
	CONSTRAINT `ck_ledger_amount_positive` CHECK(`financial_ledger`.`amount_minor` > 0)
);
--> statement-breakpoint
CREATE TABLE `stripe_events` (
	`id` varchar(255) NOT NULL,
	`type` varchar(128) NOT NULL,
	`api_version` varchar(64),
	`stripe_created_at` datetime(3) NOT NULL,
	`payload` json NOT NULL,
	`processed` boolean NOT NULL DEFAULT false,
	`processed_at` datetime(3),
	`retry_count` int NOT NULL DEFAULT 0,
	`last_error` text,
	`needs_attention` boolean NOT NULL DEFAULT false,
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	`updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `stripe_events_id` PRIMARY KEY(`id`),
	CONSTRAINT `ck_stripe_events_retry_count` CHECK(`stripe_events`.`retry_count` >= 0)
);
--> statement-breakpoint
CREATE TABLE `idempotency_requests` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`scope` varchar(64) NOT NULL,
	`principal` varchar(128) NOT NULL,
	`idempotency_key` varchar(255) NOT NULL,
	`fingerprint` char(64) NOT NULL,
	`status` enum('started','completed') NOT NULL DEFAULT 'started',
	`response` json,
	`locked_until` datetime(3) NOT NULL,
	`expires_at` datetime(3) NOT NULL,
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	`updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `idempotency_requests_id` PRIMARY KEY(`id`),
	CONSTRAINT `uq_idempotency_scope_principal_key` UNIQUE(`scope`,`principal`,`idempotency_key`)
);
--> statement-breakpoint
CREATE TABLE `outbox` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`topic` varchar(64) NOT NULL,
	`dedupe_key` varchar(255) NOT NULL,
	`payload` json NOT NULL,
	`status` enum('pending','dispatched','failed') NOT NULL DEFAULT 'pending',
	`attempts` int NOT NULL DEFAULT 0,
	`available_at` datetime(3) NOT NULL,
	`dispatched_at` datetime(3),
	`last_error` text,
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	`updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `outbox_id` PRIMARY KEY(`id`),
	CONSTRAINT `uq_outbox_dedupe_key` UNIQUE(`dedupe_key`)
);
--> statement-breakpoint
ALTER TABLE `refresh_tokens` ADD CONSTRAINT `refresh_tokens_user_id_users_id_fk` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE `flights` ADD CONSTRAINT `flights_origin_airports_iata_fk` FOREIGN KEY (`origin`) REFERENCES `airports`(`iata`) ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE `flights` ADD CONSTRAINT `flights_destination_airports_iata_fk` FOREIGN KEY (`destination`) REFERENCES `airports`(`iata`) ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE `bookings` ADD CONSTRAINT `bookings_user_id_users_id_fk` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE `bookings` ADD CONSTRAINT `bookings_flight_id_flights_id_fk` FOREIGN KEY (`flight_id`) REFERENCES `flights`(`id`) ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE `booking_passengers` ADD CONSTRAINT `booking_passengers_booking_id_bookings_id_fk` FOREIGN KEY (`booking_id`) REFERENCES `bookings`(`id`) ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE `booking_transitions` ADD CONSTRAINT `booking_transitions_booking_id_bookings_id_fk` FOREIGN KEY (`booking_id`) REFERENCES `bookings`(`id`) ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE `payments` ADD CONSTRAINT `payments_booking_id_bookings_id_fk` FOREIGN KEY (`booking_id`) REFERENCES `bookings`(`id`) ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE `financial_ledger` ADD CONSTRAINT `financial_ledger_booking_id_bookings_id_fk` FOREIGN KEY (`booking_id`) REFERENCES `bookings`(`id`) ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE `financial_ledger` ADD CONSTRAINT `financial_ledger_user_id_users_id_fk` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX `idx_refresh_tokens_family` ON `refresh_tokens` (`family_id`);--> statement-breakpoint
CREATE INDEX `idx_refresh_tokens_user` ON `refresh_tokens` (`user_id`);--> statement-breakpoint
CREATE INDEX `idx_refresh_tokens_absolute_expiry` ON `refresh_tokens` (`absolute_expires_at`);--> statement-breakpoint
CREATE INDEX `idx_flights_route_departure` ON `flights` (`origin`,`destination`,`departure_at`);--> statement-breakpoint
CREATE INDEX `idx_bookings_user_id` ON `bookings` (`user_id`,`id`);--> statement-breakpoint
CREATE INDEX `idx_bookings_flight_status` ON `bookings` (`flight_id`,`status`);--> statement-breakpoint
CREATE INDEX `idx_bookings_status_hold` ON `bookings` (`status`,`hold_expires_at`);--> statement-breakpoint
CREATE INDEX `idx_booking_transitions_booking` ON `booking_transitions` (`booking_id`,`id`);--> statement-breakpoint
CREATE INDEX `idx_payments_booking` ON `payments` (`booking_id`);--> statement-breakpoint
CREATE INDEX `idx_payments_payment_intent` ON `payments` (`stripe_payment_intent_id`);--> statement-breakpoint
CREATE INDEX `idx_ledger_booking` ON `financial_ledger` (`booking_id`);--> statement-breakpoint
CREATE INDEX `idx_ledger_payment_intent` ON `financial_ledger` (`stripe_payment_intent_id`);--> statement-breakpoint
CREATE INDEX `idx_stripe_events_unprocessed` ON `stripe_events` (`processed`,`created_at`);--> statement-breakpoint
CREATE INDEX `idx_stripe_events_type_created` ON `stripe_events` (`type`,`stripe_created_at`);--> statement-breakpoint
CREATE INDEX `idx_idempotency_expires` ON `idempotency_requests` (`expires_at`);--> statement-breakpoint
CREATE INDEX `idx_outbox_status_available` ON `outbox` (`status`,`available_at`);