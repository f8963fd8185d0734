//! How an API server refused a request, in one place: the answers shoot-flux handles instead of
//! passing them on (Kubernetes sends them as a Status with this HTTP code).

/// 404: the object (or its namespace) does not exist.
pub fn is_not_found(error: &kube::Error) -> bool {
    status_code(error) == Some(404)
}

/// 409: AlreadyExists on create, or a stale resourceVersion on update.
pub fn is_conflict(error: &kube::Error) -> bool {
    status_code(error) == Some(409)
}

/// 403: the credentials are valid but not allowed to do this.
pub fn is_forbidden(error: &kube::Error) -> bool {
    status_code(error) == Some(403)
}

/// 401 or 403: the credentials are not (yet) accepted or not allowed.
pub fn is_refused_credentials(error: &kube::Error) -> bool {
    matches!(status_code(error), Some(401 | 403))
}

pub(crate) fn status_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(
            kube::core::Status::failure("m", "r").with_code(code),
        ))
    }

    #[test]
    fn codes_are_classified() {
        assert!(is_not_found(&api(404)) && !is_not_found(&api(409)));
        assert!(is_conflict(&api(409)) && !is_conflict(&api(404)));
        assert!(is_forbidden(&api(403)) && !is_forbidden(&api(401)));
        assert!(is_refused_credentials(&api(401)) && is_refused_credentials(&api(403)));
        assert!(!is_refused_credentials(&api(500)));
        assert!(!is_not_found(&kube::Error::LinesCodecMaxLineLengthExceeded));
    }
}
