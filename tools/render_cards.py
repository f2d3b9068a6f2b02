#!/usr/bin/env python3
"""Renders the OCR test cards in tests/fixtures/ocr/cards/: Xiaohongshu-style cover cards
(big titles on colour gradients, white or coloured text, emoji and sticker shapes, numbered
手撕/八股 lists) and phone-screenshot-like cards, each PNG with its true text in a .txt.

Chromium renders them (real CJK shaping, gradients, anti-aliasing, colour emoji) from HTML
with fonts from Debian packages:

    apt-get install chromium fonts-noto-cjk fonts-wqy-zenhei fonts-noto-color-emoji
    python3 tools/render_cards.py [NAME...]  # writes tests/fixtures/ocr/cards/

The rendered PNGs are committed; the tests only read them. Emoji are decoration, not text:
they are left out of the true text (character recall ignores extra characters).
"""
import html
import os
import pathlib
import re
import subprocess
import sys
import tempfile

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ocr" / "cards"

# Emoji written inside a title or body line (pictographs, dingbats, ⭐, with their
# variation selectors and joiners): drawn with the colour emoji font, left out of the truth.
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F\u200D]+")


def markup(line):
    """A title or body line as HTML, its emoji in the colour emoji font."""
    out, at = [], 0
    for m in EMOJI.finditer(line):
        out.append(html.escape(line[at:m.start()]))
        out.append(f"<span class=mark>{m.group()}</span>")
        at = m.end()
    return "".join(out) + html.escape(line[at:])


def plain(line):
    """A line's true text: its emoji removed."""
    return " ".join(EMOJI.sub(" ", line).split())

# name, (width, height), background CSS, font family, title colour, body colour,
# title lines, body lines (emoji in them are drawn but not text), extra CSS for the body
# text, decorations (HTML).
CARDS = [
    dict(
        name="cover-orange-red",
        size=(1080, 1440),
        bg="linear-gradient(160deg, #ff9a3c 0%, #ff5e3a 55%, #e52d27 100%)",
        font="Noto Sans CJK SC",
        title_color="#ffffff",
        body_color="#ffffff",
        title=["字节大模型算法", "一面面经"],
        body=[
            "1. 手撕：LRU 缓存",
            "2. 八股：Transformer 为什么除以根号d",
            "3. 讲讲 LoRA 的原理",
            "4. 手撕：反转链表",
            "5. 项目里 KV Cache 怎么优化",
        ],
        emoji=["🔥", "💯"],
    ),
    dict(
        name="cover-pink-purple",
        size=(1080, 1440),
        bg="linear-gradient(135deg, #ff6fd8 0%, #a659f5 60%, #6a3df0 100%)",
        font="Noto Sans CJK SC",
        title_color="#fff566",
        body_color="#ffffff",
        title=["腾讯后端实习", "二面 凉经"],
        body=[
            "1. 自我介绍",
            "2. Redis 持久化有哪几种",
            "3. 八股：TCP 三次握手",
            "4. 手撕：两数之和",
            "5. 如果让你设计一个短链系统",
            "6. 反问",
        ],
        emoji=["😭", "✨"],
    ),
    dict(
        name="cover-blue-cyan",
        size=(720, 960),
        bg="linear-gradient(180deg, #1e3c72 0%, #2a5298 50%, #00c6ff 100%)",
        font="WenQuanYi Zen Hei",
        title_color="#ffffff",
        body_color="#ffffff",
        title=["美团 推荐算法", "三面总结"],
        body=[
            "1. 手撕：最长递增子序列",
            "2. 八股：XGBoost 和 GBDT 区别",
            "3. 召回和排序怎么配合",
            "4. 你的项目难点是什么",
        ],
        body_css="text-shadow: 0 3px 6px rgba(0,0,0,0.45);",
        emoji=["🚀"],
    ),
    dict(
        name="cover-red-sticker",
        size=(1080, 1440),
        bg="linear-gradient(200deg, #f85032 0%, #e73827 100%)",
        font="Noto Sans CJK SC",
        title_color="#ffffff",
        body_color="#ffffff",
        title=["阿里 Java 开发", "offer 面经"],
        body=[
            "1. 八股：HashMap 扩容",
            "2. 手撕：快速排序",
            "3. JVM 垃圾回收器有哪些",
            "4. MySQL 索引为什么用 B+ 树",
            "5. 线程池参数怎么设置",
        ],
        stars=True,
        emoji=["⭐"],
    ),
    dict(
        name="cover-yellow-colour",
        size=(1080, 1440),
        bg="linear-gradient(160deg, #fff6b7 0%, #ffd86f 100%)",
        font="Noto Sans CJK SC",
        title_color="#d7263d",
        body_color="#1d3557",
        title=["快手 大模型", "面试题汇总"],
        body=[
            "1. 手撕：实现多头注意力",
            "2. 八股：RoPE 位置编码",
            "3. DPO 和 PPO 有什么区别",
            "4. 讲讲 MoE 的负载均衡",
            "5. 手撕：二分查找",
        ],
        emoji=["📌", "💡"],
    ),
    dict(
        name="cover-green-dark",
        size=(900, 1200),
        bg="linear-gradient(150deg, #0f2027 0%, #203a43 50%, #2c5364 100%)",
        font="Noto Serif CJK SC",
        title_color="#7CFFB2",
        body_color="#ffe08a",
        title=["百度 搜索", "一面 40 分钟"],
        body=[
            "1. 介绍一下 BERT",
            "2. 手撕：合并区间",
            "3. 八股：进程和线程的区别",
            "4. 倒排索引怎么构建",
        ],
        emoji=["🌙"],
    ),
    dict(
        name="cover-teal-small",
        size=(540, 720),
        bg="linear-gradient(170deg, #43cea2 0%, #185a9d 100%)",
        font="Noto Sans CJK SC",
        title_color="#ffffff",
        body_color="#ffffff",
        title=["拼多多 二面"],
        body=[
            "1. 手撕：接雨水",
            "2. 八股：Kafka 怎么保证不丢消息",
            "3. 设计一个秒杀系统",
        ],
        emoji=["🍑"],
    ),
    dict(
        name="cover-orange-light-title",
        size=(1080, 1440),
        bg="linear-gradient(120deg, #ffb347 0%, #ff7b2e 50%, #ff3d3d 100%)",
        font="WenQuanYi Zen Hei",
        title_color="#ffffff",
        body_color="#fff3e0",
        title=["小红书 数据开发", "面经 附答案"],
        body=[
            "1. 八股：Hive 数据倾斜怎么处理",
            "2. 手撕：SQL 连续登录三天",
            "3. Spark shuffle 过程",
            "4. 讲讲你做的数仓分层",
        ],
        title_css="font-size: 120px;",
        emoji=["🍠", "🔥"],
    ),
    dict(
        name="cover-sticker-box",
        size=(1080, 1440),
        bg="linear-gradient(165deg, #ff7e5f 0%, #feb47b 100%)",
        font="Noto Sans CJK SC",
        title_color="#ffffff",
        body_color="#222222",
        title=["京东 测开", "一二面 面经"],
        body=[
            "1. 手撕：有效的括号",
            "2. 八股：HTTP 和 HTTPS 区别",
            "3. 接口测试怎么设计用例",
            "4. 你们团队怎么做自动化",
        ],
        body_box="background: #ffffff; border-radius: 36px; margin: 0 50px; padding: 40px 50px;",
        emoji=["📝"],
    ),
    dict(
        name="cover-cream-emoji-lines",
        size=(1080, 1440),
        bg="#fff8ee",
        font="Noto Sans CJK SC",
        title_color="#ff6a00",
        body_color="#222222",
        title=["📌 字节 后端开发", "二面复盘 ✨"],
        body=[
            "🔥 1. 手撕：LRU 缓存",
            "✅ 2. 八股：Redis 为什么这么快",
            "⭐ 3. 讲讲 MVCC 的实现 💯",
            "👉 4. 手撕：合并两个有序链表",
            "💭 5. 消息队列怎么保证顺序",
        ],
    ),
    dict(
        name="cover-purple-white-emoji",
        size=(1080, 1440),
        bg="linear-gradient(150deg, #8e2de2 0%, #4a00e0 60%, #2b5876 100%)",
        font="Noto Sans CJK SC",
        title_color="#ffffff",
        body_color="#ffffff",
        title=["🚀 米哈游 客户端", "一面 面经"],
        body=[
            "👉 1. 自我介绍 + 项目",
            "💡 2. 八股：C++ 虚函数表",
            "🔥 3. 手撕：二叉树的最近公共祖先",
            "✅ 4. 渲染管线讲一下 🎮",
            "📌 5. 反问：团队做什么",
        ],
    ),
    dict(
        name="cover-dark-orange-body",
        size=(1080, 1440),
        bg="linear-gradient(180deg, #1b1b2f 0%, #162447 100%)",
        font="Noto Sans CJK SC",
        title_color="#ffffff",
        body_color="#ffa040",
        title=["网易 游戏策划", "终面 经验贴 🎉"],
        body=[
            "1. 最近在玩什么游戏 🎮",
            "2. 手撕：设计一个抽卡系统 🔥",
            "3. 如何平衡 PVP 数值 ⚖️",
            "4. 八股：留存率怎么算 📈",
        ],
    ),
    dict(
        name="cover-orange-black-emoji",
        size=(1080, 1440),
        bg="linear-gradient(160deg, #ffd200 0%, #f7971e 100%)",
        font="Noto Sans CJK SC",
        title_color="#111111",
        body_color="#111111",
        title=["💥 华为 od 机考", "真题 整理"],
        body=[
            "✅ 1. 手撕：最小覆盖子串",
            "✅ 2. 手撕：岛屿数量",
            "📝 3. 八股：TCP 和 UDP 的区别",
            "⭐ 4. 讲讲 HashMap 的原理",
            "🔥 5. 综合面注意事项",
        ],
    ),
    dict(
        name="cover-white-small-emoji",
        size=(720, 960),
        bg="linear-gradient(180deg, #ffffff 0%, #f1f4f9 100%)",
        font="Noto Sans CJK SC",
        title_color="#e8432e",
        body_color="#333333",
        title=["小米 嵌入式", "一面 ✍️ 记录"],
        body=[
            "🔥 1. 讲讲中断和轮询",
            "💭 2. 八股：volatile 关键字",
            "👉 3. 手撕：字符串反转",
            "📌 4. SPI 和 I2C 的区别 ✅",
            "⭐ 5. 你用过 RTOS 吗",
        ],
        # Not yet read at 0.95: kept apart from the asserted set (see hard/README.md).
        hard=True,
    ),
    dict(
        name="cover-stroke-title",
        size=(1080, 1440),
        bg="linear-gradient(180deg, #a1c4fd 0%, #c2e9fb 100%)",
        font="Noto Sans CJK SC",
        title_color="#ffe600",
        body_color="#1a1a1a",
        title=["OPPO 影像算法", "面经 🔥 超详细"],
        body=[
            "💭 1. 讲讲 ISP 流程",
            "✅ 2. 八股：卷积和相关的区别",
            "👉 3. 手撕：图像旋转 90 度",
            "⭐ 4. 去噪算法了解哪些",
        ],
        # Yellow titles with a thick dark outline: two-coloured glyphs that are text.
        title_css="-webkit-text-stroke: 7px #1a1a1a; paint-order: stroke fill;",
    ),
    dict(
        name="cover-gradient-title",
        size=(1080, 1440),
        bg="#ffffff",
        font="Noto Sans CJK SC",
        title_color="#ff512f",
        body_color="#2d2d2d",
        title=["蚂蚁 风控算法", "实习面经 💯"],
        body=[
            "1. 手撕：买卖股票的最佳时机 📈",
            "2. 八股：GBDT 的分裂方式",
            "3. 讲讲图神经网络 🤔",
            "4. 样本不均衡怎么办 ✅",
        ],
        # Titles filled with a pink-to-orange gradient: many colours, one hue family, text.
        title_css="background: linear-gradient(90deg, #ff2f6d 0%, #ff8a00 100%); "
        "-webkit-background-clip: text; background-clip: text; -webkit-text-fill-color: transparent;",
    ),
    dict(
        name="cover-photo-texture",
        size=(1080, 1440),
        # A photo-like background: coloured turbulence under a soft vignette.
        bg="radial-gradient(circle at 30% 20%, rgba(255,220,180,0.55), rgba(40,30,60,0.65)), "
        "url(\"data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' width='1080' height='1440'>"
        "<filter id='n'><feTurbulence type='fractalNoise' baseFrequency='0.012' numOctaves='5' seed='7'/>"
        "<feColorMatrix values='1.2 0 0 0 0  0 0.9 0 0 0.05  0 0 0.8 0 0.1  0 0 0 0 1'/></filter>"
        "<rect width='100%' height='100%' filter='url(%23n)'/></svg>\")",
        font="Noto Sans CJK SC",
        title_color="#ffffff",
        body_color="#ffffff",
        title=["周末探店 🍰", "宝藏咖啡馆"],
        body=[
            "📍 1. 地址：静安寺地铁站",
            "☕ 2. 推荐：燕麦拿铁",
            "✨ 3. 人均 45 元左右",
            "📸 4. 出片率超高",
        ],
        title_css="text-shadow: 0 4px 12px rgba(0,0,0,0.6);",
        body_css="text-shadow: 0 2px 6px rgba(0,0,0,0.7);",
        # Not yet read at 0.95: kept apart from the asserted set (see hard/README.md).
        hard=True,
    ),
    dict(
        name="cover-dark-inline-emoji",
        size=(1080, 1440),
        bg="linear-gradient(180deg, #141414 0%, #2b2b2b 100%)",
        font="Noto Sans CJK SC",
        title_color="#ff9f43",
        body_color="#f1f1f1",
        title=["滴滴 算法岗", "面经分享"],
        body=[
            "1. 手撕：二叉树层序遍历",
            "2. 八股：Dropout 训练和推理的区别",
            "3. 如果线上指标下降怎么排查",
            "4. 讲讲 Attention 的复杂度",
        ],
        inline_emoji=["🔥", "✅", "💭", "👉"],
    ),
]


def page(card):
    w, h = card["size"]
    unit = w / 1080
    title = "".join(f"<div>{markup(t)}</div>" for t in card["title"])
    marks = card.get("inline_emoji", [])
    body = "".join(
        f"<div class='item'>{('<span class=mark>' + marks[i % len(marks)] + '</span> ') if marks else ''}{markup(t)}</div>"
        for i, t in enumerate(card["body"])
    )
    emoji = "".join(
        f"<span class='emoji' style='top:{40 + i * 90}px; right:{40 + i * 30}px'>{e}</span>"
        for i, e in enumerate(card.get("emoji", []))
    )
    stars = ""
    if card.get("stars"):
        stars = "".join(
            f"<div class='blob' style='left:{x}px; top:{y}px; width:{s}px; height:{s}px'></div>"
            for x, y, s in [(int(w * 0.78), int(h * 0.85), int(90 * unit)), (int(w * 0.05), int(h * 0.9), int(60 * unit))]
        )
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
html, body {{ margin: 0; width: {w}px; height: {h}px; overflow: hidden; }}
body {{ background: {card['bg']}; font-family: '{card['font']}', sans-serif; position: relative; }}
.title {{ color: {card['title_color']}; font-weight: 900; font-size: {int(104 * unit)}px;
  line-height: 1.25; padding: {int(110 * unit)}px {int(70 * unit)}px {int(50 * unit)}px; {card.get('title_css', '')} }}
.body {{ color: {card['body_color']}; font-weight: 700; font-size: {int(50 * unit)}px;
  line-height: 1.6; padding: 0 {int(70 * unit)}px; {card.get('body_css', '')} {card.get('body_box', '')} }}
.mark {{ font-family: 'Noto Color Emoji'; }}
.emoji {{ position: absolute; font-size: {int(80 * unit)}px; font-family: 'Noto Color Emoji'; }}
.blob {{ position: absolute; border-radius: 50%; background: rgba(255, 255, 255, 0.35); }}
</style></head><body>
<div class="title">{title}</div><div class="body">{body}</div>{emoji}{stars}
</body></html>"""


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    chromium = os.environ.get("CHROMIUM", "chromium")
    with tempfile.TemporaryDirectory() as tmp:
        only = sys.argv[1:]
        for card in CARDS:
            if only and card["name"] not in only:
                continue
            src = pathlib.Path(tmp) / f"{card['name']}.html"
            src.write_text(page(card), encoding="utf-8")
            out = OUT.parent / "hard" if card.get("hard") else OUT
            out.mkdir(parents=True, exist_ok=True)
            png = out / f"{card['name']}.png"
            w, h = card["size"]
            subprocess.run(
                [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 "--force-device-scale-factor=1", f"--window-size={w},{h}",
                 f"--screenshot={png}", src.as_uri()],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            truth = "\n".join(plain(t) for t in card["title"] + card["body"]) + "\n"
            (out / f"{card['name']}.txt").write_text(truth, encoding="utf-8")
            print(png.relative_to(OUT.parent.parent.parent.parent), file=sys.stderr)


if __name__ == "__main__":
    main()
