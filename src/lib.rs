//! Ascolto: listens to community comments, flags complaints and unanswered questions, and drafts replies.
