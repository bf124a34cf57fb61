//! Query strings, read by hand: a parameter may repeat (`kind=a&kind=b`,
//! `filter=…&filter=…`), every value is checked with a message naming the
//! parameter, and an unknown parameter is refused (a typo such as `kinds=`
//! would otherwise silently list everything). The parameters a route
//! accepts are the ones its OpenAPI document declares (`IntoParams`), so the
//! two cannot drift apart.

use std::ops::RangeInclusive;
use std::time::Duration;

use utoipa::IntoParams;
use utoipa::openapi::path::ParameterIn;

use super::error::ApiError;

/// Routes that take no query parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NoParams {}

/// The longest query string taken, in bytes.
pub(super) const MAX_QUERY_BYTES: usize = 8192;
/// The most items a list parameter (`kind`, `namespace`) may name.
pub(super) const MAX_LIST_ITEMS: usize = 100;

/// The parameters of one request, in order.
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parse `raw` (the text after `?`), accepting the parameters `P`
    /// documents.
    pub fn parse<P: IntoParams>(raw: Option<&str>) -> Result<Params, ApiError> {
        let length = raw.map_or(0, str::len);
        if length > MAX_QUERY_BYTES {
            return Err(ApiError::bad_request(format!(
                "the query string is {length} bytes long; at most {MAX_QUERY_BYTES} are taken"
            ))
            .with_code("query_too_long"));
        }
        let known: Vec<String> = P::into_params(|| Some(ParameterIn::Query))
            .into_iter()
            .map(|parameter| parameter.name)
            .collect();
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect();
        if let Some((name, _)) = pairs.iter().find(|(name, _)| !known.contains(name)) {
            return Err(ApiError::bad_request(if known.is_empty() {
                format!("unknown query parameter `{name}`: this route takes none")
            } else {
                format!(
                    "unknown query parameter `{name}`; this route takes: {}",
                    known.join(", ")
                )
            }));
        }
        // No catalog value holds a NUL, and PostgreSQL refuses one in text:
        // the documents' patterns exclude it, and it is refused here, once.
        if let Some((name, _)) = pairs.iter().find(|(_, value)| value.contains('\0')) {
            return Err(ApiError::bad_request(format!(
                "query parameter `{name}` contains a NUL character (U+0000), which no value \
                 of this API holds"
            )));
        }
        Ok(Params(pairs))
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The value of `name`, which may be given once.
    pub fn single(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self
            .0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::bad_request(format!(
                "query parameter `{name}` is given more than once"
            )));
        }
        Ok(first)
    }

    /// Every value of `name`, each split at commas, trimmed of ASCII white
    /// space, lower-cased and non-empty (`kind=Component,API&kind=group`).
    pub fn list_lower(&self, name: &str) -> Result<Vec<String>, ApiError> {
        let mut list = std::collections::BTreeSet::new();
        for value in self.all(name) {
            for item in value.split(',') {
                // ASCII white space only, as the routes' documents say.
                let item = item.trim_matches(|c: char| c.is_ascii_whitespace());
                if item.is_empty() {
                    return Err(ApiError::bad_request(format!(
                        "query parameter `{name}` has an empty value"
                    )));
                }
                list.insert(item.to_lowercase());
                if list.len() > MAX_LIST_ITEMS {
                    return Err(ApiError::bad_request(format!(
                        "query parameter `{name}` names more than {MAX_LIST_ITEMS} values; at \
                         most {MAX_LIST_ITEMS} are taken"
                    ))
                    .with_code("too_many_values"));
                }
            }
        }
        Ok(list.into_iter().collect())
    }

    /// An integer in `range`, or `None` when absent.
    pub fn integer(&self, name: &str, range: RangeInclusive<i64>) -> Result<Option<i64>, ApiError> {
        let Some(text) = self.single(name)? else {
            return Ok(None);
        };
        let value: i64 = text.trim().parse().map_err(|_| {
            ApiError::bad_request(format!(
                "query parameter `{name}` must be an integer, not {text:?}"
            ))
        })?;
        if !range.contains(&value) {
            return Err(ApiError::bad_request(format!(
                "query parameter `{name}` must be between {} and {}, not {value}",
                range.start(),
                range.end()
            )));
        }
        Ok(Some(value))
    }

    /// A number of seconds between 0 and `max` (`wait=2.5`), or `None`.
    pub fn seconds(&self, name: &str, max: Duration) -> Result<Option<Duration>, ApiError> {
        let Some(text) = self.single(name)? else {
            return Ok(None);
        };
        let out_of_range = || {
            ApiError::bad_request(format!(
                "query parameter `{name}` must be a number of seconds between 0 and {}, not {text:?}",
                max.as_secs_f64()
            ))
        };
        let seconds: f64 = text.trim().parse().map_err(|_| out_of_range())?;
        if !seconds.is_finite() || seconds < 0.0 || seconds > max.as_secs_f64() {
            return Err(out_of_range());
        }
        Ok(Some(Duration::from_secs_f64(seconds)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(IntoParams)]
    #[into_params(parameter_in = Query)]
    #[allow(dead_code)]
    struct Demo {
        kind: Option<Vec<String>>,
        limit: Option<i64>,
        wait: Option<f64>,
    }

    #[test]
    fn parameters_are_read_and_checked() {
        let params = Params::parse::<Demo>(Some("kind=Component,API&kind=group&limit=5")).unwrap();
        assert_eq!(
            params.list_lower("kind").unwrap(),
            ["api", "component", "group"]
        );
        assert_eq!(params.integer("limit", 1..=10).unwrap(), Some(5));
        assert!(params.integer("limit", 1..=4).is_err());
        assert_eq!(
            params.seconds("wait", Duration::from_secs(1)).unwrap(),
            None
        );

        let unknown = Params::parse::<Demo>(Some("kinds=x")).err().unwrap();
        assert!(
            unknown.message().contains("`kinds`"),
            "{}",
            unknown.message()
        );
        let twice = Params::parse::<Demo>(Some("limit=1&limit=2")).unwrap();
        assert!(twice.integer("limit", 1..=10).is_err());
        let wait = Params::parse::<Demo>(Some("wait=0.5")).unwrap();
        assert_eq!(
            wait.seconds("wait", Duration::from_secs(1)).unwrap(),
            Some(Duration::from_millis(500))
        );
        let nul = Params::parse::<Demo>(Some("kind=a%00b")).err().unwrap();
        assert!(nul.message().contains("`kind`"), "{}", nul.message());
        let wait = Params::parse::<Demo>(Some("wait=NaN")).unwrap();
        assert!(wait.seconds("wait", Duration::from_secs(1)).is_err());
    }
}
