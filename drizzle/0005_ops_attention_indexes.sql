CREATE INDEX `idx_bookings_needs_attention` ON `bookings` (`needs_attention`);--> statement-breakpoint
CREATE INDEX `idx_stripe_events_needs_attention` ON `stripe_events` (`needs_attention`);