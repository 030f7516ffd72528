//! The picture components the pages insert: the catalogue card's cover thumbnail, the
//! coupon page's gallery and the owner's picture manager on the edit page. Everything
//! here is plain HTML (the manager's forms post to `api::router`'s routes and come back
//! with the outcome in the URL), so it works the same before hydration and without
//! JavaScript.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::error_text;
use crate::domain::{Coupon, CouponImage, MAX_IMAGES};
use crate::error::{AppError, Conflict, ImageRefusal};
use crate::i18n::*;

/// The alt text of a coupon's `n`-th picture (from 1): its name and the position.
fn alt_text(name: &str, n: usize) -> String {
    let i18n = use_i18n();
    t_string!(i18n, picture_alt, name = name, n = n).to_string()
}

/// The cover's thumbnail at the top of a catalogue card (a blank square without one, so
/// the cards of a row stay aligned).
#[component]
pub fn CardThumb(coupon: Coupon) -> impl IntoView {
    match coupon.cover() {
        Some(cover) => {
            let src = cover.thumb_url.clone();
            let name = coupon.name.clone();
            view! {
                <img class="card-thumb" src=src alt=move || alt_text(&name, 1) width="400" height="400"
                    loading="lazy" decoding="async" data-testid="coupon-thumb" />
            }
            .into_any()
        }
        None => view! { <div class="card-thumb empty" aria-hidden="true"></div> }.into_any(),
    }
}

/// Every picture of the coupon, full size, in order (scrolls sideways on a phone).
#[component]
pub fn Gallery(name: String, images: Vec<CouponImage>) -> impl IntoView {
    (!images.is_empty()).then(|| {
        let name = StoredValue::new(name);
        view! {
            <div class="gallery" data-testid="coupon-gallery">
                {images.into_iter().enumerate().map(|(i, image)| view! {
                    <img src=image.url alt=move || name.with_value(|n| alt_text(n, i + 1))
                        width=image.width height=image.height
                        loading=if i == 0 { "eager" } else { "lazy" } data-testid="gallery-image" />
                }).collect_view()}
            </div>
        }
    })
}

/// The error a picture form came back with (`picture_error=<code>` in the URL).
fn error_of_code(code: &str) -> AppError {
    if let Some(refusal) = ImageRefusal::from_code(code) {
        return AppError::Image(refusal);
    }
    match code {
        "too_many_images" => AppError::Conflict(Conflict::TooManyImages),
        "not_found" => AppError::NotFound,
        "forbidden" => AppError::Forbidden,
        "unauthorized" => AppError::Unauthorized,
        "unavailable" => AppError::Unavailable {
            retry_after_secs: 2,
        },
        "bad_request" => AppError::Image(ImageRefusal::Unsupported),
        _ => AppError::Internal,
    }
}

/// The owner's pictures of a coupon on its edit page: each with "make cover" and
/// "delete", and the upload form while there is room.
#[component]
pub fn PictureManager(coupon: Coupon) -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let error = move || query.read().get("picture_error").map(|c| error_of_code(&c));
    let done = move || query.read().get("pictures");
    let id = coupon.id;
    let name = StoredValue::new(coupon.name.clone());
    let room = coupon.images.len() < MAX_IMAGES;
    let count = coupon.images.len();
    view! {
        <section class="pictures" data-testid="pictures">
            <h2>{t!(i18n, pictures)}</h2>
            {move || error().map(|e| view! {
                <div class="banner error" role="alert" data-testid="picture-error">{error_text(&e)}</div>
            })}
            {move || done().map(|d| view! {
                <p class="banner ok" role="status" data-testid="picture-status">
                    {match d.as_str() {
                        "added" => t_string!(i18n, picture_added).to_string(),
                        "deleted" => t_string!(i18n, picture_deleted).to_string(),
                        _ => t_string!(i18n, cover_changed).to_string(),
                    }}
                </p>
            })}
            {if count == 0 {
                view! { <p class="muted">{t!(i18n, no_pictures)}</p> }.into_any()
            } else {
                view! {
                    <ol class="picture-list" data-testid="picture-list">
                        {coupon.images.into_iter().enumerate().map(|(i, image)| {
                            let base = format!("/owner/coupons/{id}/images/{}", image.id);
                            view! {
                                <li class="picture" data-testid="picture">
                                    <img src=image.thumb_url alt=move || name.with_value(|n| alt_text(n, i + 1))
                                        width="120" height="120" />
                                    <div class="picture-actions">
                                        {if i == 0 {
                                            view! { <span class="badge ok" data-testid="picture-cover">{t!(i18n, cover)}</span> }.into_any()
                                        } else {
                                            view! {
                                                <form method="post" action=format!("{base}/cover") class="inline">
                                                    <button type="submit" class="link" data-testid="make-cover">{t!(i18n, make_cover)}</button>
                                                </form>
                                            }.into_any()
                                        }}
                                        <form method="post" action=format!("{base}/delete") class="inline">
                                            <button type="submit" class="link danger" data-testid="delete-picture">{t!(i18n, delete_picture)}</button>
                                        </form>
                                    </div>
                                </li>
                            }
                        }).collect_view()}
                    </ol>
                }.into_any()
            }}
            {room.then(|| view! {
                <form method="post" enctype="multipart/form-data" action=format!("/owner/coupons/{id}/images")
                    class="picture-upload" data-testid="picture-form">
                    <div class="field">
                        <label for="f-picture">{t!(i18n, picture_file)}</label>
                        <input id="f-picture" type="file" name="file" accept="image/jpeg,image/png,image/webp"
                            required=true data-testid="input-picture" />
                        <small class="hint">{t!(i18n, pictures_hint)}</small>
                    </div>
                    <button type="submit" data-testid="picture-submit">{t!(i18n, upload_picture)}</button>
                </form>
            })}
            {(!room).then(|| view! { <p class="hint">{t!(i18n, err_too_many_images)}</p> })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_of_the_forms_come_back_as_errors() {
        for e in [
            AppError::Image(ImageRefusal::Unsupported),
            AppError::Image(ImageRefusal::TooManyPixels),
            AppError::Image(ImageRefusal::FileTooLarge),
            AppError::Conflict(Conflict::TooManyImages),
            AppError::NotFound,
            AppError::Forbidden,
        ] {
            assert_eq!(error_of_code(e.code()), e);
        }
        assert_eq!(error_of_code("whatever"), AppError::Internal);
    }
}
