DELETE FROM commands WHERE command_id = $1 AND status = 'pending'
