//! Pictures for the demo data, drawn here from a few shapes (nothing downloaded): a cup of
//! americano, a latte, a slice of cake, pork belly on a grill, a bowl of cold noodles.
//! `demo.rs` uploads them through the same path as an owner's upload.

use image::{ImageFormat, Rgb, RgbImage};

/// What a demo picture shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    Americano,
    CoffeeBeans,
    Latte,
    Cake,
    PorkBelly,
    ColdNoodles,
}

const W: u32 = 900;
const H: u32 = 600;

type Colour = [u8; 3];

struct Canvas(RgbImage);

impl Canvas {
    fn gradient(top: Colour, bottom: Colour) -> Canvas {
        Canvas(RgbImage::from_fn(W, H, |_, y| {
            let t = y as f32 / (H - 1) as f32;
            let mix = |a: u8, b: u8| (a as f32 + (b as f32 - a as f32) * t).round() as u8;
            Rgb([
                mix(top[0], bottom[0]),
                mix(top[1], bottom[1]),
                mix(top[2], bottom[2]),
            ])
        }))
    }

    /// Fills the pixels of the box (clipped to the canvas) for which `inside` holds.
    fn fill(
        &mut self,
        (x0, y0, x1, y1): (f32, f32, f32, f32),
        c: Colour,
        inside: impl Fn(f32, f32) -> bool,
    ) {
        let clamp = |v: f32, max: u32| v.max(0.0).min(max as f32) as u32;
        for y in clamp(y0.floor(), H)..clamp(y1.ceil(), H) {
            for x in clamp(x0.floor(), W)..clamp(x1.ceil(), W) {
                if inside(x as f32 + 0.5, y as f32 + 0.5) {
                    self.0.put_pixel(x, y, Rgb(c));
                }
            }
        }
    }

    fn rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, c: Colour) {
        self.fill((x0, y0, x1, y1), c, |_, _| true);
    }

    fn ellipse(&mut self, cx: f32, cy: f32, rx: f32, ry: f32, c: Colour) {
        self.fill((cx - rx, cy - ry, cx + rx, cy + ry), c, |x, y| {
            ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2) <= 1.0
        });
    }

    fn ring(&mut self, cx: f32, cy: f32, r: f32, width: f32, c: Colour) {
        self.fill((cx - r, cy - r, cx + r, cy + r), c, |x, y| {
            let d = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt();
            d <= r && d >= r - width
        });
    }

    fn triangle(&mut self, a: (f32, f32), b: (f32, f32), d: (f32, f32), c: Colour) {
        let edge = |p: (f32, f32), q: (f32, f32), x: f32, y: f32| {
            (q.0 - p.0) * (y - p.1) - (q.1 - p.1) * (x - p.0)
        };
        let bbox = (
            a.0.min(b.0).min(d.0),
            a.1.min(b.1).min(d.1),
            a.0.max(b.0).max(d.0),
            a.1.max(b.1).max(d.1),
        );
        self.fill(bbox, c, |x, y| {
            let (e1, e2, e3) = (edge(a, b, x, y), edge(b, d, x, y), edge(d, a, x, y));
            (e1 >= 0.0 && e2 >= 0.0 && e3 >= 0.0) || (e1 <= 0.0 && e2 <= 0.0 && e3 <= 0.0)
        });
    }

    /// A wavy stroke across `xs` around height `y` (amplitude and period in pixels).
    fn wave(
        &mut self,
        xs: std::ops::Range<f32>,
        y: f32,
        (amplitude, period): (f32, f32),
        width: f32,
        c: Colour,
    ) {
        let mut x = xs.start;
        while x <= xs.end {
            let cy = y + amplitude * (x / period * std::f32::consts::TAU).sin();
            self.ellipse(x, cy, width / 2.0, width / 2.0, c);
            x += 2.0;
        }
    }

    /// A cup on a saucer seen from the side, filled with `drink`.
    fn cup(&mut self, cx: f32, base: f32, drink: Colour) {
        let white = [250, 248, 244];
        let shade = [225, 220, 212];
        self.ellipse(cx, base + 10.0, 190.0, 38.0, shade);
        self.ellipse(cx, base, 180.0, 32.0, white);
        self.ring(cx + 120.0, base - 110.0, 55.0, 18.0, white);
        self.rect(cx - 120.0, base - 200.0, cx + 120.0, base - 40.0, white);
        self.ellipse(cx, base - 40.0, 120.0, 40.0, white);
        self.ellipse(cx, base - 200.0, 120.0, 30.0, shade);
        self.ellipse(cx, base - 198.0, 108.0, 24.0, drink);
    }

    fn png(&self) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        self.0
            .write_to(&mut out, ImageFormat::Png)
            .expect("encoding a drawn picture in memory");
        out.into_inner()
    }
}

/// A PNG of `subject`, 900 x 600.
pub fn draw(subject: Subject) -> Vec<u8> {
    let mut c;
    match subject {
        Subject::Americano => {
            c = Canvas::gradient([247, 222, 192], [196, 140, 96]);
            c.rect(0.0, 470.0, W as f32, H as f32, [120, 78, 50]);
            c.cup(430.0, 470.0, [58, 32, 18]);
            // Three wisps of steam.
            for i in 0..3 {
                let x = 370.0 + 60.0 * i as f32;
                for k in 0..40 {
                    let y = 220.0 - 3.0 * k as f32;
                    c.ellipse(x + 10.0 * (y / 25.0).sin(), y, 4.0, 4.0, [255, 250, 240]);
                }
            }
        }
        Subject::CoffeeBeans => {
            c = Canvas::gradient([92, 58, 36], [54, 32, 20]);
            let mut seed = 7u32;
            for _ in 0..60 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let x = (seed >> 8) % W;
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let y = (seed >> 8) % H;
                let (x, y) = (x as f32, y as f32);
                c.ellipse(x, y, 34.0, 24.0, [120, 70, 38]);
                c.ellipse(x, y, 30.0, 20.0, [150, 90, 48]);
                c.rect(x - 26.0, y - 3.0, x + 26.0, y + 3.0, [70, 40, 22]);
            }
        }
        Subject::Latte => {
            c = Canvas::gradient([236, 240, 232], [200, 214, 196]);
            c.rect(0.0, 470.0, W as f32, H as f32, [170, 130, 96]);
            c.cup(430.0, 470.0, [196, 150, 104]);
            // A heart of milk foam on top.
            let foam = [250, 240, 226];
            c.ellipse(405.0, 265.0, 26.0, 10.0, foam);
            c.ellipse(455.0, 265.0, 26.0, 10.0, foam);
            c.triangle((380.0, 268.0), (480.0, 268.0), (430.0, 288.0), foam);
        }
        Subject::Cake => {
            c = Canvas::gradient([253, 232, 238], [240, 196, 210]);
            c.ellipse(450.0, 470.0, 300.0, 70.0, [250, 250, 250]);
            // A slice: sponge and cream in layers, a strawberry on top.
            let layers: [(f32, Colour); 5] = [
                (440.0, [236, 196, 132]),
                (400.0, [255, 250, 244]),
                (360.0, [236, 196, 132]),
                (320.0, [255, 250, 244]),
                (290.0, [255, 252, 248]),
            ];
            for (top, colour) in layers {
                c.rect(300.0, top, 600.0, top + 40.0, colour);
            }
            c.rect(300.0, 384.0, 600.0, 392.0, [214, 40, 70]);
            c.ellipse(450.0, 262.0, 44.0, 40.0, [214, 40, 60]);
            c.triangle(
                (420.0, 232.0),
                (480.0, 232.0),
                (450.0, 212.0),
                [60, 150, 60],
            );
        }
        Subject::PorkBelly => {
            c = Canvas::gradient([60, 56, 54], [30, 28, 27]);
            c.ellipse(450.0, 300.0, 400.0, 260.0, [90, 86, 82]);
            for i in 0..9 {
                let y = 110.0 + 45.0 * i as f32;
                c.rect(80.0, y, 820.0, y + 8.0, [140, 136, 130]);
            }
            for (i, x) in [200.0f32, 360.0, 520.0].into_iter().enumerate() {
                let top = 150.0 + 30.0 * i as f32;
                c.rect(x, top, x + 130.0, top + 280.0, [222, 150, 136]);
                for k in 0..4 {
                    let y = top + 40.0 + 65.0 * k as f32;
                    c.rect(x, y, x + 130.0, y + 14.0, [250, 236, 226]);
                }
                for k in 0..5 {
                    let y = top + 20.0 + 55.0 * k as f32;
                    c.rect(x + 10.0, y, x + 120.0, y + 5.0, [120, 60, 40]);
                }
            }
            c.ellipse(740.0, 470.0, 60.0, 40.0, [60, 140, 60]);
        }
        Subject::ColdNoodles => {
            c = Canvas::gradient([220, 236, 246], [176, 206, 226]);
            c.ellipse(450.0, 320.0, 330.0, 250.0, [190, 194, 200]);
            c.ellipse(450.0, 310.0, 300.0, 225.0, [218, 222, 228]);
            c.ellipse(450.0, 310.0, 270.0, 200.0, [200, 150, 110]);
            for i in 0..14 {
                let y = 190.0 + 17.0 * i as f32;
                let period = 60.0 + 4.0 * i as f32;
                c.wave(230.0..670.0, y, (8.0, period), 7.0, [226, 214, 190]);
            }
            for k in 0..6 {
                let x = 300.0 + 50.0 * k as f32;
                c.rect(x, 150.0, x + 12.0, 230.0, [90, 160, 80]);
            }
            c.ellipse(540.0, 260.0, 60.0, 56.0, [250, 250, 246]);
            c.ellipse(540.0, 260.0, 28.0, 26.0, [250, 196, 40]);
        }
    }
    c.png()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subject_is_a_picture_the_upload_path_accepts() {
        for subject in [
            Subject::Americano,
            Subject::CoffeeBeans,
            Subject::Latte,
            Subject::Cake,
            Subject::PorkBelly,
            Subject::ColdNoodles,
        ] {
            let png = draw(subject);
            let p = super::super::process::process(&png).unwrap();
            assert_eq!((p.full.width, p.full.height), (W, H), "{subject:?}");
        }
    }
}
