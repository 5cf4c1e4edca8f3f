//! Middleware applied to every request: the request log, the origin check, and HTML error pages.
use super::AppState;
use crate::error::AppError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};
use std::time::Instant;

/// The path as it may be logged: respondent tokens and channel codes are secrets.
pub fn loggable_path(path: &str) -> String {
    for prefix in ["/s/", "/o/"] {
        if let Some(rest) = path.strip_prefix(prefix)
            && !rest.is_empty()
        {
            return format!("{prefix}…");
        }
    }
    // An open channel's code inside an organiser's path (…/channels/{code}/qr.svg) is the
    // same secret as its /o/ link.
    if let Some((before, after)) = path.split_once("/channels/")
        && !after.is_empty()
    {
        let rest = after.split_once('/').map_or("", |(_, r)| r);
        return if rest.is_empty() {
            format!("{before}/channels/…")
        } else {
            format!("{before}/channels/…/{rest}")
        };
    }
    path.to_owned()
}

/// The longest address served: Renke's own are far shorter (a link's token, a few filters).
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// One log line per request: method, path, status and latency. An address longer than any of
/// Renke's is answered 414 at once (and logged cut short).
pub async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().clone();
    if req.path().len() + req.query_string().len() > MAX_URI_BYTES {
        let path: String = loggable_path(req.path()).chars().take(64).collect();
        tracing::info!(%method, path = %format!("{path}…"), status = 414, "request");
        return Err(AppError::UriTooLong.into());
    }
    let path = loggable_path(req.path());
    let res = next.call(req).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match &res {
        Ok(r) => {
            tracing::info!(%method, %path, status = r.status().as_u16(), latency_ms, "request")
        }
        Err(e) => tracing::warn!(%method, %path, error = %e, latency_ms, "request failed"),
    }
    res
}

/// Answers 408 when a request, body included (handlers read it as they run), is not done within
/// the configured time: a stalled or trickling client cannot hold a connection and a worker's
/// attention for ever.
pub async fn time_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut limit = req
        .app_data::<web::Data<AppState>>()
        .map_or(std::time::Duration::from_secs(120), |s| s.request_timeout);
    // A roster upload may wait its turn behind others and then store a million people: the
    // time is the work's, not a slow client's (which the body's own arrival still bounds).
    if req.method() == Method::POST && req.path().contains("/frames/") {
        limit = limit.max(ROSTER_TIME);
    }
    match tokio::time::timeout(limit, next.call(req)).await {
        Ok(res) => res,
        Err(_) => Err(AppError::RequestTimeout.into()),
    }
}

/// How long a roster upload may take, queue included.
pub const ROSTER_TIME: std::time::Duration = std::time::Duration::from_secs(15 * 60);

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses a state-changing request whose Origin header names another site.
pub async fn check_origin(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if is_unsafe(req.method())
        && let Some(origin) = req.headers().get(header::ORIGIN)
    {
        let host = req.connection_info().host().to_owned();
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, h)| h.trim_end_matches('/'));
        // Respondent pages send no Referer (their URLs hold tokens), so browsers send
        // `Origin: null` from them; they carry no session to abuse.
        let respondent = req.path().starts_with("/s/") || req.path().starts_with("/o/");
        let null_ok = respondent && origin.as_bytes() == b"null";
        if origin_host != Some(host.as_str()) && !null_ok {
            let res = HttpResponse::from_error(super::csrf::expired_form());
            return Ok(req.into_response(res).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// HTML pages, as opposed to the JSON API, the health check and static files.
pub fn is_page(path: &str) -> bool {
    !(path.starts_with("/api/") || path == "/healthz" || path.starts_with("/static/"))
}

/// Turns errors of HTML routes into pages (the JSON API keeps its JSON bodies).
/// A 401 becomes a redirect to the login page. Every error passes here first, so the use cases
/// learn here of database failures a request met.
pub async fn render_error_pages(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let res = next.call(req).await?;
    let status = res.status();
    // Pages that render their own errors (a form shown again) carry no error value.
    let Some(error) = res.response().error() else {
        return Ok(res.map_into_left_body());
    };
    // A database file that failed under this request makes its pool look at its connections.
    if let (Some(e), Some(state)) = (
        error.as_error::<AppError>(),
        res.request().app_data::<web::Data<AppState>>(),
    ) {
        state.app.noticed(e);
    }
    let mut message = error.to_string();
    if status == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE {
        message = "提交的内容太大".into();
    }
    if !is_page(res.request().path()) {
        return Ok(res.map_into_left_body());
    }
    let (req, _) = res.into_parts();
    if status == actix_web::http::StatusCode::UNAUTHORIZED && req.path() != "/login" {
        let next = if req.method() == Method::GET {
            req.uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/admin")
        } else {
            "/admin"
        };
        let to = format!("/login?next={}", urlencode(next));
        return Ok(ServiceResponse::new(req, super::see_other(&to)).map_into_right_body());
    }
    let body = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| "state missing".to_owned())
        .and_then(|state| {
            let mut ctx = tera::Context::new();
            ctx.insert("status", &status.as_u16());
            ctx.insert("message", &message);
            state.tera.render("error.html", &ctx).map_err(|e| {
                let err: AppError = e.into();
                format!("{err:?}")
            })
        });
    let response = match body {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(cause) => {
            tracing::error!(%cause, "could not render the error page");
            HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(message)
        }
    };
    Ok(ServiceResponse::new(req, response).map_into_right_body())
}

/// Percent-encodes a value for a query string.
pub fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn respondent_tokens_never_reach_the_log() {
        assert_eq!(super::loggable_path("/s/abc123"), "/s/…");
        assert_eq!(super::loggable_path("/o/xyz"), "/o/…");
        assert_eq!(super::loggable_path("/admin/surveys/1"), "/admin/surveys/1");
        assert_eq!(
            super::loggable_path("/api/v1/surveys/3/channels/Ab3dEf9/qr.svg"),
            "/api/v1/surveys/3/channels/…/qr.svg"
        );
        assert_eq!(
            super::loggable_path("/api/v1/surveys/3/channels"),
            "/api/v1/surveys/3/channels"
        );
    }
}

/// True when the request's `Accept-Encoding` accepts gzip (by name or by `*`) and does not
/// refuse it with `q=0`.
pub fn accepts_gzip(req: &impl actix_web::HttpMessage) -> bool {
    use actix_web::http::header::{AcceptEncoding, Encoding, Preference, Quality};
    let Some(accepted) = req.get_header::<AcceptEncoding>() else {
        return false;
    };
    let gzip = Encoding::gzip();
    let named = accepted.0.iter().find(|q| match &q.item {
        Preference::Specific(e) => *e == gzip,
        Preference::Any => false,
    });
    match named {
        Some(q) => q.quality > Quality::ZERO,
        None => accepted
            .0
            .iter()
            .any(|q| matches!(q.item, Preference::Any) && q.quality > Quality::ZERO),
    }
}

/// Bodies from this size up to `INLINE_GZIP_MAX` are gzipped here, on the worker.
const INLINE_GZIP_MIN: usize = 512;
/// Larger bodies, and streamed ones (the exports), are left to actix's `Compress`, which
/// compresses on the blocking thread pool.
const INLINE_GZIP_MAX: usize = 256 * 1024;

/// Gzips a complete response body of page size right here, at the fastest level (admin pages,
/// notices, the stylesheet; respondents' forms come gzipped already, see `Spliced::fill_gzip`).
/// actix's `Compress` would hand every chunk over 1 KB to the blocking thread pool and back,
/// which cost more than the rest of a submission together (BENCHMARKS.md). `Compress` leaves a
/// response that already has a `Content-Encoding` alone.
pub async fn gzip_pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    use actix_web::body::BoxBody;
    use std::io::Write;
    let gzip = accepts_gzip(&req);
    let res = next.call(req).await?.map_into_boxed_body();
    if !gzip || res.headers().contains_key(header::CONTENT_ENCODING) {
        return Ok(res);
    }
    let (req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    let body = match body.size() {
        actix_web::body::BodySize::Sized(n)
            if (INLINE_GZIP_MIN as u64..=INLINE_GZIP_MAX as u64).contains(&n) =>
        {
            match body.try_into_bytes() {
                Ok(bytes) => bytes,
                Err(body) => return Ok(ServiceResponse::new(req, head.set_body(body))),
            }
        }
        _ => return Ok(ServiceResponse::new(req, head.set_body(body))),
    };
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 3),
        flate2::Compression::fast(),
    );
    let compressed = encoder.write_all(&body).and_then(|()| encoder.finish());
    let mut res = match compressed {
        Ok(gz) => {
            let mut res = head.set_body(BoxBody::new(gz));
            res.headers_mut().insert(
                header::CONTENT_ENCODING,
                header::HeaderValue::from_static("gzip"),
            );
            res
        }
        Err(_) => head.set_body(BoxBody::new(body)),
    };
    res.headers_mut().append(
        header::VARY,
        header::HeaderValue::from_static("accept-encoding"),
    );
    Ok(ServiceResponse::new(req, res))
}

#[cfg(test)]
mod gzip_tests {
    use actix_web::test::TestRequest;

    #[test]
    fn gzip_is_taken_when_offered_and_not_refused() {
        let accepts = |v: &str| {
            super::accepts_gzip(
                &TestRequest::default()
                    .insert_header(("accept-encoding", v))
                    .to_srv_request(),
            )
        };
        assert!(accepts("gzip, deflate"));
        assert!(accepts("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts("*"));
        assert!(!accepts("br"));
        assert!(!accepts("gzip;q=0, br"));
        assert!(!accepts("gzip;q=0, *"));
        assert!(!accepts("identity"));
        assert!(!super::accepts_gzip(
            &TestRequest::default().to_srv_request()
        ));
    }
}
