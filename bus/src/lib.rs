//! placeholder: the outbox relay (issue 5) is being written
